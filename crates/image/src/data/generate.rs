//! Procedural day/night scenes for the built-in dataset.
//!
//! The classifier is meant for real photographs, so the generator varies what
//! real photos vary: sun elevation (with golden hour and blue hour near the
//! boundary), sun, moon and stars, clouds, overcast and rain, city skylines
//! with lit windows, street lights and headlights at night, countryside, sea,
//! indoor rooms seen through a window, exposure and colour casts, blur, sensor
//! noise and JPEG artefacts. Labels follow the sun: "day" when it is above the
//! horizon, "night" when it is more than 8° below (civil twilight and darker);
//! the ambiguous band in between is not generated.

use casebook_vision::colour::{jitter, lerp, scale, Rgb};
use std::path::Path;

use anyhow::{Context, Result};
use casebook_core::seed::{self, purpose};
use casebook_vision::png_bytes;
use image::RgbImage;
use rand::Rng;
use rand_distr::StandardNormal;

/// Side of the generated square images, in pixels.
pub const SCENE_SIZE: u32 = 128;

/// Options for [`generate_dataset`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub count: usize,
    pub night_fraction: f64,
    pub seed: u64,
}

/// Writes `count` scenes as `out/day/*.png` and `out/night/*.png`; returns the
/// number of (day, night) images written. Each scene depends only on the seed
/// and its index, so the same command always writes the same files.
pub fn generate_dataset(
    out: &Path,
    options: &GenerateOptions,
    on_image: impl FnMut(),
) -> Result<(usize, usize)> {
    casebook_core::fsx::build_folder(out, |dir| generate_into(dir, options, on_image))
}

fn generate_into(
    out: &Path,
    options: &GenerateOptions,
    mut on_image: impl FnMut(),
) -> Result<(usize, usize)> {
    for class in ["day", "night"] {
        std::fs::create_dir_all(out.join(class))
            .with_context(|| format!("cannot create {}", out.join(class).display()))?;
    }
    let (mut days, mut nights) = (0, 0);
    for i in 0..options.count {
        let mut rng = seed::stream(options.seed, &[purpose::GENERATE, i as u64]);
        let night = rng.gen_bool(options.night_fraction.clamp(0.0, 1.0));
        let img = render_scene(night, &mut rng);
        let class = if night { "night" } else { "day" };
        let path = out.join(class).join(format!("{class}_{i:05}.png"));
        casebook_core::fsx::write_atomic(&path, &png_bytes(&img)?)?;
        if night {
            nights += 1;
        } else {
            days += 1;
        }
        on_image();
    }
    Ok((days, nights))
}

/// A float RGB canvas in 0..1 (values may exceed 1 before the camera clips).
struct Canvas {
    size: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    fn new(size: usize) -> Self {
        Self {
            size,
            px: vec![[0.0; 3]; size * size],
        }
    }
    fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f32) {
        let p = &mut self.px[y * self.size + x];
        for c in 0..3 {
            p[c] = p[c] * (1.0 - alpha) + color[c] * alpha;
        }
    }
    fn add(&mut self, x: usize, y: usize, color: Rgb, amount: f32) {
        let p = &mut self.px[y * self.size + x];
        for c in 0..3 {
            p[c] += color[c] * amount;
        }
    }
    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Rgb) {
        let s = self.size as f32;
        let (xa, xb) = (x0.max(0.0) as usize, (x1.min(s)).max(0.0) as usize);
        let (ya, yb) = (y0.max(0.0) as usize, (y1.min(s)).max(0.0) as usize);
        for y in ya..yb {
            for x in xa..xb {
                self.blend(x, y, color, 1.0);
            }
        }
    }
    /// A disc with a soft edge; `glow` > 0 adds light around it.
    fn disc(&mut self, cx: f32, cy: f32, r: f32, color: Rgb, glow: f32) {
        let reach = r + glow * 4.0 + 1.0;
        let (xa, xb) = (
            (cx - reach).max(0.0) as usize,
            ((cx + reach) as usize).min(self.size),
        );
        let (ya, yb) = (
            (cy - reach).max(0.0) as usize,
            ((cy + reach) as usize).min(self.size),
        );
        for y in ya..yb {
            for x in xa..xb {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let alpha = (r + 0.5 - d).clamp(0.0, 1.0);
                if alpha > 0.0 {
                    self.blend(x, y, color, alpha);
                }
                if glow > 0.0 && d > r {
                    self.add(x, y, color, 0.6 * (-(d - r) / glow).exp());
                }
            }
        }
    }
}

/// Light and sky colours for a sun elevation in degrees.
struct Sky {
    zenith: Rgb,
    horizon: Rgb,
    /// Ambient light on the ground, 0 (dark) .. 1 (full day).
    light: f32,
}

fn sky_for(elevation: f32) -> Sky {
    if elevation >= 12.0 {
        let t = ((elevation - 12.0) / 50.0).clamp(0.0, 1.0);
        Sky {
            zenith: lerp([0.30, 0.50, 0.85], [0.16, 0.36, 0.80], t),
            horizon: [0.70, 0.80, 0.92],
            light: 0.85 + 0.15 * t,
        }
    } else if elevation >= 0.0 {
        // Golden hour: warm horizon, still a blue zenith.
        let t = elevation / 12.0;
        Sky {
            zenith: lerp([0.30, 0.36, 0.62], [0.30, 0.50, 0.85], t),
            horizon: lerp([0.98, 0.55, 0.25], [0.80, 0.80, 0.85], t),
            light: 0.5 + 0.35 * t,
        }
    } else if elevation >= -18.0 {
        // Blue hour / nautical and astronomical twilight: fading indigo.
        let t = ((elevation + 18.0) / 10.0).clamp(0.0, 1.0);
        Sky {
            zenith: lerp([0.02, 0.03, 0.08], [0.08, 0.10, 0.28], t),
            horizon: lerp([0.05, 0.05, 0.12], [0.30, 0.22, 0.35], t),
            light: 0.03 + 0.12 * t,
        }
    } else {
        Sky {
            zenith: [0.01, 0.015, 0.04],
            horizon: [0.03, 0.04, 0.08],
            light: 0.03,
        }
    }
}

#[derive(Clone, Copy)]
enum Place {
    City,
    Countryside,
    Sea,
    Indoor,
}

/// Renders one scene; `night` decides the sun elevation range.
pub fn render_scene(night: bool, rng: &mut impl Rng) -> RgbImage {
    let n = SCENE_SIZE as usize;
    let s = n as f32;
    let elevation: f32 = if night {
        if rng.gen_bool(0.25) {
            rng.gen_range(-16.0..-8.0)
        } else {
            rng.gen_range(-90.0..-16.0)
        }
    } else if rng.gen_bool(0.3) {
        rng.gen_range(0.5..12.0)
    } else {
        rng.gen_range(12.0..70.0)
    };
    let place = match rng.gen_range(0..100) {
        0..=34 => Place::City,
        35..=59 => Place::Countryside,
        60..=79 => Place::Sea,
        _ => Place::Indoor,
    };
    let overcast = rng.gen_bool(0.25);
    let rain = overcast && rng.gen_bool(0.4) && !matches!(place, Place::Indoor);
    let mut sky = sky_for(elevation);
    if overcast {
        let grey = 0.35 + 0.45 * sky.light;
        let g = [grey * 0.95, grey * 0.97, grey];
        sky.zenith = lerp(sky.zenith, scale(g, sky.light.max(0.08)), 0.85);
        sky.horizon = lerp(sky.horizon, scale(g, sky.light.max(0.1) * 1.1), 0.85);
        sky.light *= 0.7;
    }
    if !night && !overcast && rng.gen_bool(0.35) {
        // Haze: a washed-out, nearly white day sky, common in real photos.
        let haze = rng.gen_range(0.3..0.8);
        let white = [0.86, 0.89, 0.92];
        sky.zenith = lerp(sky.zenith, white, haze * 0.7);
        sky.horizon = lerp(sky.horizon, white, haze);
    }
    let city_glow = matches!(place, Place::City) && night && rng.gen_bool(0.6);

    let mut canvas = Canvas::new(n);
    let horizon = rng.gen_range(0.42..0.72) * s;
    draw_sky(&mut canvas, &sky, horizon, city_glow, rng);
    if !overcast {
        draw_sun_or_moon(&mut canvas, night, elevation, horizon, rng);
        if night && !city_glow {
            draw_stars(&mut canvas, horizon, rng);
        }
    }
    draw_clouds(&mut canvas, &sky, horizon, overcast, night, rng);

    match place {
        Place::City => draw_city(&mut canvas, &sky, horizon, night, rng),
        Place::Countryside => draw_countryside(&mut canvas, &sky, horizon, night, rng),
        Place::Sea => draw_sea(&mut canvas, &sky, horizon, night, rng),
        Place::Indoor => draw_indoor(&mut canvas, night, rng),
    }
    if !matches!(place, Place::Indoor) {
        // Fine texture everywhere below the sky, by day and by night alike.
        texture(
            &mut canvas,
            horizon as usize,
            rng.gen_range(0.05..0.25),
            rng,
        );
        if rng.gen_bool(0.4) {
            foreground_foliage(&mut canvas, sky.light, rng);
        }
    }
    if rain {
        draw_rain(&mut canvas, rng);
    }
    camera(canvas, night, rng)
}

fn draw_sky(canvas: &mut Canvas, sky: &Sky, horizon: f32, city_glow: bool, rng: &mut impl Rng) {
    let n = canvas.size;
    let glow_color = jitter(rng, [0.35, 0.22, 0.10], 0.3);
    for y in 0..n {
        let t = (y as f32 / horizon).clamp(0.0, 1.0).powf(1.6);
        let mut c = lerp(sky.zenith, sky.horizon, t);
        if city_glow {
            c = [
                c[0] + glow_color[0] * t * t,
                c[1] + glow_color[1] * t * t,
                c[2] + glow_color[2] * t * t,
            ];
        }
        for x in 0..n {
            canvas.blend(x, y, c, 1.0);
        }
    }
}

fn draw_sun_or_moon(
    canvas: &mut Canvas,
    night: bool,
    elevation: f32,
    horizon: f32,
    rng: &mut impl Rng,
) {
    let s = canvas.size as f32;
    let x = rng.gen_range(0.1..0.9) * s;
    if night {
        if rng.gen_bool(0.5) {
            let y = rng.gen_range(0.08..0.8) * horizon;
            let r = rng.gen_range(2.5..6.0);
            canvas.disc(x, y, r, [0.92, 0.92, 0.85], 1.5);
        }
    } else {
        // Higher sun sits higher in the frame.
        let height = (elevation / 70.0).clamp(0.02, 1.0);
        let y = horizon * (1.0 - height * rng.gen_range(0.6..1.0));
        let color = if elevation < 12.0 {
            [1.0, 0.75, 0.45]
        } else {
            [1.0, 0.98, 0.9]
        };
        canvas.disc(
            x,
            y,
            rng.gen_range(3.0..7.0),
            color,
            rng.gen_range(2.0..5.0),
        );
    }
}

fn draw_stars(canvas: &mut Canvas, horizon: f32, rng: &mut impl Rng) {
    let n = canvas.size;
    for _ in 0..rng.gen_range(10..90) {
        let x = rng.gen_range(0..n);
        let y = rng.gen_range(0..(horizon as usize).max(1));
        let b = rng.gen_range(0.3..0.9);
        canvas.add(x, y, [b, b, b * 0.95], 1.0);
    }
}

fn draw_clouds(
    canvas: &mut Canvas,
    sky: &Sky,
    horizon: f32,
    overcast: bool,
    night: bool,
    rng: &mut impl Rng,
) {
    let s = canvas.size as f32;
    let count = if overcast {
        rng.gen_range(4..10)
    } else {
        rng.gen_range(0..6)
    };
    let base = if night {
        scale([0.2, 0.2, 0.24], 0.3 + sky.light)
    } else {
        scale([1.0, 1.0, 1.0], 0.6 + 0.4 * sky.light)
    };
    for _ in 0..count {
        let cx = rng.gen_range(-0.1..1.1) * s;
        let cy = rng.gen_range(0.05..0.8) * horizon;
        let shade = rng.gen_range(0.75..1.05);
        for _ in 0..rng.gen_range(3..7) {
            let r = rng.gen_range(3.0..10.0);
            let dx = rng.gen_range(-12.0..12.0);
            let dy = rng.gen_range(-3.0..3.0);
            soft_blob(canvas, cx + dx, cy + dy, r, scale(base, shade), 0.8);
        }
    }
}

fn soft_blob(canvas: &mut Canvas, cx: f32, cy: f32, r: f32, color: Rgb, strength: f32) {
    let n = canvas.size;
    let (xa, xb) = (
        (cx - r * 1.5).max(0.0) as usize,
        ((cx + r * 1.5).max(0.0) as usize).min(n),
    );
    let (ya, yb) = (
        (cy - r).max(0.0) as usize,
        ((cy + r).max(0.0) as usize).min(n),
    );
    for y in ya..yb {
        for x in xa..xb {
            let d = (((x as f32 - cx) / 1.5).powi(2) + (y as f32 - cy).powi(2)).sqrt() / r;
            if d < 1.0 {
                canvas.blend(x, y, color, strength * (1.0 - d * d));
            }
        }
    }
}

fn ground_fill(canvas: &mut Canvas, horizon: f32, top: Rgb, bottom: Rgb) {
    let n = canvas.size;
    for y in (horizon as usize).min(n)..n {
        let t = (y as f32 - horizon) / (n as f32 - horizon).max(1.0);
        for x in 0..n {
            canvas.blend(x, y, lerp(top, bottom, t), 1.0);
        }
    }
}

/// Facade colours: concrete, sandstone, brick, terracotta, white render, glass.
const FACADES: [Rgb; 6] = [
    [0.55, 0.52, 0.50],
    [0.80, 0.72, 0.58],
    [0.60, 0.28, 0.20],
    [0.80, 0.45, 0.25],
    [0.90, 0.90, 0.88],
    [0.30, 0.40, 0.50],
];

fn draw_city(canvas: &mut Canvas, sky: &Sky, horizon: f32, night: bool, rng: &mut impl Rng) {
    let s = canvas.size as f32;
    let light = sky.light;
    ground_fill(
        canvas,
        horizon,
        scale([0.35, 0.35, 0.37], light),
        scale([0.22, 0.22, 0.24], light),
    );
    let mut x = rng.gen_range(-8.0..0.0);
    let lit_share = rng.gen_range(0.25..0.75);
    while x < s {
        let w = rng.gen_range(8.0..26.0);
        let h = rng.gen_range(0.15..0.85) * horizon;
        let facade = FACADES[rng.gen_range(0..FACADES.len())];
        let wall = jitter(rng, facade, 0.15);
        let wall = scale(wall, light * rng.gen_range(0.6..1.0));
        canvas.rect(x, horizon - h, x + w, horizon + 2.0, wall);
        // Windows: reflective by day, lit or dark by night.
        let mut wy = horizon - h + 2.0;
        while wy < horizon - 2.0 {
            let mut wx = x + 2.0;
            while wx < x + w - 2.0 {
                let color = if night {
                    if rng.gen_bool(lit_share) {
                        jitter(rng, [1.0, 0.85, 0.5], 0.15)
                    } else {
                        scale(wall, 0.7)
                    }
                } else {
                    jitter(rng, lerp(sky.horizon, [0.2, 0.25, 0.3], 0.5), 0.1)
                };
                canvas.rect(wx, wy, wx + 2.0, wy + 2.0, color);
                wx += 4.0;
            }
            wy += 4.0;
        }
        x += w + rng.gen_range(0.0..4.0);
    }
    // Road with street lights and headlights (lights on at night, sometimes at dusk).
    let road_y = horizon + (s - horizon) * rng.gen_range(0.35..0.7);
    canvas.rect(
        0.0,
        road_y,
        s,
        road_y + 6.0,
        scale([0.15, 0.15, 0.16], light.max(0.05)),
    );
    if night || rng.gen_bool(0.1) {
        let mut lx = rng.gen_range(0.0..20.0);
        while lx < s {
            canvas.disc(lx, road_y - 10.0, 1.2, [1.0, 0.7, 0.35], 2.5);
            lx += rng.gen_range(14.0..30.0);
        }
    }
    for _ in 0..rng.gen_range(0..4) {
        let cx = rng.gen_range(0.0..s);
        let headlights = night || rng.gen_bool(0.15);
        canvas.rect(
            cx - 5.0,
            road_y + 1.0,
            cx + 5.0,
            road_y + 5.0,
            scale(jitter(rng, [0.5, 0.2, 0.2], 0.6), light.max(0.05)),
        );
        if headlights {
            canvas.disc(cx - 3.5, road_y + 3.0, 1.0, [1.0, 1.0, 0.9], 2.0);
            canvas.disc(cx + 3.5, road_y + 3.0, 1.0, [1.0, 1.0, 0.9], 2.0);
        }
    }
}

fn draw_countryside(canvas: &mut Canvas, sky: &Sky, horizon: f32, night: bool, rng: &mut impl Rng) {
    let n = canvas.size;
    let s = n as f32;
    let light = sky.light;
    let grass = jitter(rng, [0.30, 0.50, 0.20], 0.3);
    let far = lerp(scale(grass, light), sky.horizon, 0.35);
    // Rolling hills as two sine layers.
    for (layer, color, amp) in [
        (0.0f32, far, 6.0f32),
        (1.0, scale(grass, light * 0.85), 10.0),
    ] {
        let phase = rng.gen_range(0.0..std::f32::consts::TAU);
        let freq = rng.gen_range(0.03..0.09);
        for x in 0..n {
            let top = horizon + layer * 8.0 - amp * ((x as f32 * freq + phase).sin() * 0.5 + 0.5);
            for y in (top.max(0.0) as usize).min(n)..n {
                canvas.blend(x, y, color, 1.0);
            }
        }
    }
    // Trees as dark discs on trunks.
    for _ in 0..rng.gen_range(0..8) {
        let x = rng.gen_range(0.0..s);
        let y = rng.gen_range(horizon..s);
        let r = rng.gen_range(2.0..6.0) * (y / s + 0.3);
        canvas.rect(
            x - 0.6,
            y - r,
            x + 0.6,
            y + r,
            scale([0.25, 0.18, 0.1], light),
        );
        foliage(canvas, x, y - r * 1.5, r, light, rng);
    }
    // A lit farmhouse window at night.
    if night && rng.gen_bool(0.5) {
        let x = rng.gen_range(0.1..0.9) * s;
        let y = horizon + rng.gen_range(2.0..12.0);
        canvas.rect(
            x - 4.0,
            y - 4.0,
            x + 4.0,
            y + 3.0,
            scale([0.3, 0.25, 0.2], light),
        );
        canvas.disc(x, y - 1.0, 1.0, [1.0, 0.8, 0.45], 1.5);
    }
}

/// A leafy canopy: many small discs in varied greens (texture, not a flat blob).
fn foliage(canvas: &mut Canvas, cx: f32, cy: f32, r: f32, light: f32, rng: &mut impl Rng) {
    let leaves = (r * r * 1.5) as usize + 4;
    for _ in 0..leaves {
        let (dx, dy) = (rng.gen_range(-r..r), rng.gen_range(-r..r));
        if dx * dx + dy * dy > r * r {
            continue;
        }
        let shade = rng.gen_range(0.4..1.3);
        let green = jitter(rng, [0.16 * shade, 0.34 * shade, 0.12 * shade], 0.25);
        canvas.disc(
            cx + dx,
            cy + dy,
            rng.gen_range(0.6..1.8),
            scale(green, light),
            0.0,
        );
    }
}

/// Trees or bushes along the bottom of the frame, as in many real photos.
fn foreground_foliage(canvas: &mut Canvas, light: f32, rng: &mut impl Rng) {
    let s = canvas.size as f32;
    for _ in 0..rng.gen_range(2..7) {
        let x = rng.gen_range(-0.1..1.1) * s;
        let r = rng.gen_range(8.0..22.0);
        foliage(canvas, x, s - rng.gen_range(0.0..r), r, light, rng);
    }
}

/// Multiplicative per-pixel texture below row `from` (surfaces are never flat).
fn texture(canvas: &mut Canvas, from: usize, strength: f32, rng: &mut impl Rng) {
    let n = canvas.size;
    for y in from.min(n)..n {
        for x in 0..n {
            let k = 1.0 + strength * rng.gen_range(-1.0f32..1.0);
            let p = &mut canvas.px[y * n + x];
            for v in p.iter_mut() {
                *v *= k;
            }
        }
    }
}

fn draw_sea(canvas: &mut Canvas, sky: &Sky, horizon: f32, night: bool, rng: &mut impl Rng) {
    let n = canvas.size;
    let water = lerp(scale([0.1, 0.3, 0.45], sky.light), sky.horizon, 0.3);
    ground_fill(canvas, horizon, water, scale(water, 0.6));
    // Glints: reflected sky and sun by day, a moon path or nothing by night.
    let path_x = rng.gen_range(0.2..0.8) * n as f32;
    for _ in 0..rng.gen_range(20..80) {
        let y = rng.gen_range(horizon..n as f32);
        let spread = (y - horizon) * 0.4 + 2.0;
        let x = path_x + rng.gen_range(-spread..spread);
        let brightness = if night {
            rng.gen_range(0.0..0.3)
        } else {
            rng.gen_range(0.4..1.0)
        } * (0.2 + sky.light);
        if x >= 0.0 && (x as usize) < n && (y as usize) < n {
            canvas.add(
                x as usize,
                y as usize,
                [brightness, brightness, brightness * 0.9],
                1.0,
            );
        }
    }
    // A boat light at night sometimes.
    if night && rng.gen_bool(0.3) {
        canvas.disc(
            rng.gen_range(0.0..n as f32),
            horizon + rng.gen_range(1.0..8.0),
            0.8,
            [1.0, 0.9, 0.6],
            1.5,
        );
    }
}

fn draw_indoor(canvas: &mut Canvas, night: bool, rng: &mut impl Rng) {
    let n = canvas.size;
    let s = n as f32;
    // The window keeps whatever sky was drawn; the room is drawn around it.
    let (wx0, wy0) = (rng.gen_range(0.1..0.5) * s, rng.gen_range(0.08..0.3) * s);
    let (wx1, wy1) = (
        wx0 + rng.gen_range(0.25..0.45) * s,
        wy0 + rng.gen_range(0.3..0.5) * s,
    );
    let lamp_on = night || rng.gen_bool(0.3);
    let daylight = if night { 0.0 } else { rng.gen_range(0.5..1.0) };
    let lamp = if lamp_on {
        rng.gen_range(0.35..0.7)
    } else {
        0.0
    };
    let wall = jitter(rng, [0.85, 0.78, 0.68], 0.15);
    let wall_light = [
        daylight * 0.95 + lamp * 1.0,
        daylight * 0.97 + lamp * 0.8,
        daylight * 1.0 + lamp * 0.55,
    ];
    let floor_y = rng.gen_range(0.65..0.85) * s;
    for y in 0..n {
        for x in 0..n {
            let (xf, yf) = (x as f32, y as f32);
            if xf >= wx0 && xf < wx1 && yf >= wy0 && yf < wy1 {
                continue;
            }
            let base = if yf > floor_y {
                [0.45, 0.32, 0.22]
            } else {
                wall
            };
            // Light falls off away from the window (day) or the lamp (night).
            let falloff = 1.0 - 0.4 * ((xf - (wx0 + wx1) / 2.0).abs() / s);
            let c = [
                base[0] * wall_light[0] * falloff,
                base[1] * wall_light[1] * falloff,
                base[2] * wall_light[2] * falloff,
            ];
            canvas.blend(x, y, c, 1.0);
        }
    }
    // Window frame.
    let frame = scale([0.9, 0.9, 0.88], wall_light[1].max(0.2));
    canvas.rect(wx0 - 1.5, wy0 - 1.5, wx1 + 1.5, wy0, frame);
    canvas.rect(wx0 - 1.5, wy1, wx1 + 1.5, wy1 + 1.5, frame);
    canvas.rect(wx0 - 1.5, wy0, wx0, wy1, frame);
    canvas.rect(wx1, wy0, wx1 + 1.5, wy1, frame);
    canvas.rect(
        (wx0 + wx1) / 2.0 - 0.7,
        wy0,
        (wx0 + wx1) / 2.0 + 0.7,
        wy1,
        frame,
    );
    if lamp_on {
        let lx = rng.gen_range(0.55..0.9) * s;
        canvas.disc(
            lx,
            floor_y - rng.gen_range(10.0..30.0),
            rng.gen_range(2.0..4.0),
            [1.0, 0.85, 0.55],
            3.0,
        );
    }
    // A table or sofa block.
    let fx = rng.gen_range(0.0..0.6) * s;
    canvas.rect(
        fx,
        floor_y - 10.0,
        fx + rng.gen_range(15.0..40.0),
        floor_y + 4.0,
        scale(jitter(rng, [0.4, 0.3, 0.3], 0.4), wall_light[1].max(0.05)),
    );
}

fn draw_rain(canvas: &mut Canvas, rng: &mut impl Rng) {
    let n = canvas.size;
    for _ in 0..rng.gen_range(60..200) {
        let x = rng.gen_range(0..n) as f32;
        let y = rng.gen_range(0..n) as f32;
        for k in 0..5 {
            let (px, py) = ((x + k as f32 * 0.4) as usize, (y + k as f32) as usize);
            if px < n && py < n {
                canvas.blend(px, py, [0.7, 0.72, 0.75], 0.25);
            }
        }
    }
}

/// The camera: exposure, white balance, blur, noise, then 8-bit and maybe JPEG.
fn camera(mut canvas: Canvas, night: bool, rng: &mut impl Rng) -> RgbImage {
    let n = canvas.size;
    // Hard cases on purpose: long-exposure nights come out bright, and
    // under-exposed days come out dark, so brightness alone cannot decide.
    let exposure = (rng.gen_range(-0.35f32..0.35)).exp()
        * match (night, rng.gen_bool(0.15)) {
            (true, true) => rng.gen_range(2.0..3.5),
            (true, false) => rng.gen_range(1.0..1.6),
            (false, true) => rng.gen_range(0.3..0.55),
            (false, false) => 1.0,
        };
    let cast = jitter(rng, [1.0, 1.0, 1.0], 0.08);
    if rng.gen_bool(0.3) {
        box_blur(&mut canvas);
    }
    // The same sensor-noise range for both classes: noise must not be a cue.
    let noise = rng.gen_range(0.0..0.035);
    let mut img = RgbImage::new(n as u32, n as u32);
    for (i, p) in canvas.px.iter().enumerate() {
        let mut out = [0u8; 3];
        for c in 0..3 {
            let v = p[c] * exposure * cast[c] + noise * rng.sample::<f32, _>(StandardNormal);
            // A gentle gamma so darks are not crushed to zero.
            out[c] = (v.clamp(0.0, 1.0).powf(0.9) * 255.0).round() as u8;
        }
        img.put_pixel((i % n) as u32, (i / n) as u32, image::Rgb(out));
    }
    if rng.gen_bool(0.5) {
        img = jpeg_round_trip(&img, rng.gen_range(25..90)).unwrap_or(img);
    }
    img
}

fn box_blur(canvas: &mut Canvas) {
    let n = canvas.size;
    let src = canvas.px.clone();
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let mut acc = [0.0f32; 3];
            for dy in 0..3 {
                for dx in 0..3 {
                    let p = src[(y + dy - 1) * n + (x + dx - 1)];
                    for c in 0..3 {
                        acc[c] += p[c] / 9.0;
                    }
                }
            }
            canvas.px[y * n + x] = acc;
        }
    }
}

fn jpeg_round_trip(img: &RgbImage, quality: u8) -> Result<RgbImage> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)?;
    Ok(image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)?.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_brightness(img: &RgbImage) -> f64 {
        img.pixels()
            .map(|p| p.0.iter().map(|&v| v as f64).sum::<f64>() / 3.0)
            .sum::<f64>()
            / img.pixels().len() as f64
    }

    #[test]
    fn scenes_are_deterministic_and_night_is_darker_on_average() {
        let render = |night, seed| render_scene(night, &mut seed::stream(seed, &[]));
        assert_eq!(render(true, 5), render(true, 5));
        let day: f64 = (0..40)
            .map(|s| mean_brightness(&render(false, s)))
            .sum::<f64>()
            / 40.0;
        let night: f64 = (0..40)
            .map(|s| mean_brightness(&render(true, s)))
            .sum::<f64>()
            / 40.0;
        assert!(day > night + 40.0, "day {day:.1} vs night {night:.1}");
    }

    #[test]
    fn dataset_has_the_asked_count_and_fraction() {
        let dir = tempfile::tempdir().unwrap();
        let (d, n) = generate_dataset(
            dir.path(),
            &GenerateOptions {
                count: 40,
                night_fraction: 0.25,
                seed: 1,
            },
            || {},
        )
        .unwrap();
        assert_eq!(d + n, 40);
        assert!((4..=18).contains(&n), "night count {n}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("night")).unwrap().count(),
            n
        );
    }
}
