//! Synthetic identities in the LFW layout, for tests and for training a face
//! encoder without a photo archive.
//!
//! [`generate`] writes `out/<person>/<person>_<nnnn>.png`, 250×250 RGB images
//! with the face roughly centred and about 45% of the width wide, as in
//! Labeled Faces in the Wild. Each person is a fixed set of facial parameters
//! (face shape, skin, eyes, brows, nose, mouth, hair, ears, beard, glasses,
//! moles and freckles) drawn from the random stream of `(seed, person)`; each
//! image draws what changes between photos of one person (pose, scale and
//! position, lighting, expression, occlusions, background, camera blur, noise
//! and JPEG artefacts) from the stream of `(seed, person, image)`. So any
//! image can be rendered alone ([`render`]) and is the same in every run.
//!
//! The faces are painted in 2-D but shaded like a 3-D head (an ellipsoid with
//! a relief of nose, eye sockets, cheekbones, lips and chin, lit by one key
//! light and ambient light), because the face detector this crate uses was
//! trained on photographs: it looks for the dark eye sockets and brows, the
//! shaded nose and the lips of real faces, not for a drawing's outlines.

use casebook_vision::colour::{blend, jitter, lerp, mul, scale, smoothstep, Rgb};
use std::f32::consts::{FRAC_PI_2, TAU};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use casebook_core::config::{require, InvalidConfig};
use casebook_core::observe::Observer;
use casebook_core::seed::{self, purpose};
use casebook_vision::png_bytes;
use image::RgbImage;
use rand::Rng;
use rand_distr::StandardNormal;

/// Side of LFW's images, in pixels.
pub const LFW_SIZE: u32 = 250;

/// Sub-streams of one person under `[purpose::GENERATE, person]`.
const IDENTITY: u64 = 0;
const COUNT: u64 = 1;
const SHOT: u64 = 2;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FacesOptions {
    /// Number of identities (folders).
    pub people: usize,
    /// Fewest images of one person.
    pub min_images: usize,
    /// Most images of one person. Counts in between are skewed towards
    /// `min_images` (a few people have many images), as in LFW.
    pub max_images: usize,
    pub seed: u64,
    /// Side of the square images in pixels.
    pub size: u32,
}

impl Default for FacesOptions {
    fn default() -> Self {
        Self {
            people: 100,
            min_images: 2,
            max_images: 12,
            seed: seed::DEFAULT,
            size: LFW_SIZE,
        }
    }
}

impl FacesOptions {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        require(
            self.people >= 2,
            "people",
            format!(
                "must be at least 2 (pairs and triplets need two identities; got {})",
                self.people
            ),
        )?;
        require(
            self.min_images >= 1,
            "min_images",
            "must be at least 1 (every person needs an image)",
        )?;
        require(
            self.max_images >= self.min_images,
            "max_images",
            format!(
                "must be at least min_images ({}; got {})",
                self.min_images, self.max_images
            ),
        )?;
        require(
            (64..=1024).contains(&self.size),
            "size",
            format!(
                "must be between 64 and 1024 pixels (LFW's is {LFW_SIZE}; got {})",
                self.size
            ),
        )
    }

    /// How many images `person` gets: fixed by the seed and the person, so
    /// adding people never changes the others.
    pub fn images_of(&self, person: usize) -> usize {
        let draw: f64 = seed::stream(self.seed, &[purpose::GENERATE, person as u64, COUNT]).gen();
        let spread = (self.max_images - self.min_images + 1) as f64;
        self.min_images + ((spread * draw.powi(3)) as usize).min(self.max_images - self.min_images)
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub people: usize,
    pub images: usize,
}

/// The folder (and file prefix) of `person`, e.g. `person_0007`.
pub fn person_name(person: usize) -> String {
    format!("person_{person:04}")
}

/// Writes every person's images as `out/<person>/<person>_<nnnn>.png`
/// (`nnnn` from 0001, as in LFW), each atomically, on every core (each image
/// depends only on its indices, so the files do not depend on the threads).
/// Reports one unit per image and stops between images when asked; the images
/// written so far stay.
pub fn generate(out: &Path, options: &FacesOptions, observer: &dyn Observer) -> Result<Summary> {
    options.validate()?;
    let jobs: Vec<(usize, usize)> = (0..options.people)
        .flat_map(|person| (0..options.images_of(person)).map(move |image| (person, image)))
        .collect();
    let phase = observer.phase("generating faces", jobs.len() as u64);
    let (next, written) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let work = || -> Result<()> {
        while let Some(&(person, image)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
            observer.check_stop(|| {
                format!(
                    "{} of {} images are written in {}",
                    written.load(Ordering::Relaxed),
                    jobs.len(),
                    out.display()
                )
            })?;
            let name = person_name(person);
            let path = out.join(&name).join(format!("{name}_{:04}.png", image + 1));
            let picture = render(options.seed, person, image, options.size);
            casebook_core::fsx::write_atomic(&path, &png_bytes(&picture)?)?;
            written.fetch_add(1, Ordering::Relaxed);
            phase.advance(1);
        }
        Ok(())
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let result = work();
                    if result.is_err() {
                        // The other threads finish their image and stop.
                        next.store(jobs.len(), Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a face generator thread panicked"))
    })?;
    Ok(Summary {
        people: options.people,
        images: jobs.len(),
    })
}

/// Image `image` of `person` at `size`×`size`, without touching the disk.
pub fn render(seed: u64, person: usize, image: usize, size: u32) -> RgbImage {
    let person = person as u64;
    let id = Identity::draw(&mut seed::stream(
        seed,
        &[purpose::GENERATE, person, IDENTITY],
    ));
    let mut rng = seed::stream(seed, &[purpose::GENERATE, person, SHOT, image as u64]);
    let shot = Shot::draw(&id, size as f32, &mut rng);
    let mut canvas = background(size as usize, &mut rng);
    Painter::new(&id, &shot).paint(&mut canvas);
    camera(canvas, &mut rng)
}

/// Coverage of a shape at signed distance `d` (negative inside), with an edge
/// `aa` wide: anti-aliasing without supersampling.
fn cover(d: f32, aa: f32) -> f32 {
    (0.5 - d / aa).clamp(0.0, 1.0)
}
fn gauss(x: f32, y: f32, sx: f32, sy: f32) -> f32 {
    (-(x / sx).powi(2) - (y / sy).powi(2)).exp()
}
/// Approximate signed distance to an axis-aligned ellipse.
fn ellipse(x: f32, y: f32, a: f32, b: f32) -> f32 {
    ((x / a).hypot(y / b) - 1.0) * a.min(b)
}
/// Signed distance to a rectangle of half-sides `(w, h)` with corners of radius `r`.
fn rounded_rect(x: f32, y: f32, w: f32, h: f32, r: f32) -> f32 {
    let (qx, qy) = (x.abs() - (w - r), y.abs() - (h - r));
    qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0) - r
}
fn normalize(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-6);
    v.map(|x| x / n)
}
fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn pick(rng: &mut impl Rng, palette: &[Rgb]) -> Rgb {
    palette[rng.gen_range(0..palette.len())]
}
fn pick_jittered(rng: &mut impl Rng, palette: &[Rgb], amount: f32) -> Rgb {
    let c = pick(rng, palette);
    jitter(rng, c, amount)
}

/// Smooth value noise in -1..1 on a periodic lattice: seeded, and the same
/// wherever it is sampled from.
struct Noise {
    side: usize,
    values: Vec<f32>,
}

impl Noise {
    fn new(rng: &mut impl Rng) -> Self {
        let side = 64;
        let values = (0..side * side).map(|_| rng.gen_range(-1.0..1.0)).collect();
        Self { side, values }
    }
    /// The noise at `(x, y)` in lattice cells.
    fn at(&self, x: f32, y: f32) -> f32 {
        let (fx, fy) = (x.floor(), y.floor());
        let (tx, ty) = (smoothstep(0.0, 1.0, x - fx), smoothstep(0.0, 1.0, y - fy));
        let s = self.side as i64;
        let v = |i: i64, j: i64| self.values[(j.rem_euclid(s) * s + i.rem_euclid(s)) as usize];
        let (i, j) = (fx as i64, fy as i64);
        let top = v(i, j) + (v(i + 1, j) - v(i, j)) * tx;
        let bottom = v(i, j + 1) + (v(i + 1, j + 1) - v(i, j + 1)) * tx;
        top + (bottom - top) * ty
    }
    /// Three octaves: blotches with finer detail on top.
    fn fractal(&self, x: f32, y: f32) -> f32 {
        0.57 * self.at(x, y)
            + 0.29 * self.at(2.03 * x + 17.0, 2.03 * y)
            + 0.14 * self.at(4.1 * x, 4.1 * y + 31.0)
    }
}

/// Skin tones from light to dark; a person's tone lies between two neighbours.
const SKIN: [Rgb; 5] = [
    [0.96, 0.80, 0.69],
    [0.90, 0.70, 0.56],
    [0.78, 0.56, 0.41],
    [0.58, 0.40, 0.27],
    [0.38, 0.25, 0.17],
];
const HAIR_DARK: [Rgb; 3] = [[0.05, 0.04, 0.04], [0.10, 0.07, 0.05], [0.18, 0.11, 0.07]];
const HAIR_LIGHT: [Rgb; 4] = [
    [0.34, 0.22, 0.13],
    [0.68, 0.54, 0.34],
    [0.52, 0.24, 0.11],
    [0.80, 0.70, 0.50],
];
const HAIR_GREY: [Rgb; 2] = [[0.50, 0.49, 0.48], [0.80, 0.79, 0.77]];
const IRIS: [Rgb; 6] = [
    [0.20, 0.12, 0.07],
    [0.33, 0.19, 0.09],
    [0.40, 0.33, 0.17],
    [0.28, 0.40, 0.26],
    [0.28, 0.43, 0.60],
    [0.42, 0.47, 0.52],
];
const FRAMES: [Rgb; 4] = [
    [0.05, 0.05, 0.05],
    [0.25, 0.15, 0.08],
    [0.62, 0.60, 0.56],
    [0.55, 0.42, 0.20],
];
/// Clothes: dark suits, white and blue shirts, and colours.
const CLOTHES: [Rgb; 8] = [
    [0.08, 0.08, 0.10],
    [0.15, 0.17, 0.25],
    [0.30, 0.30, 0.32],
    [0.85, 0.85, 0.83],
    [0.55, 0.65, 0.80],
    [0.50, 0.12, 0.12],
    [0.20, 0.35, 0.22],
    [0.55, 0.45, 0.35],
];

#[derive(Clone, Copy, PartialEq)]
enum HairStyle {
    Bald,
    Short,
    Medium,
    Long,
    Curly,
}

struct Hair {
    style: HairStyle,
    color: Rgb,
    /// Height of the hairline at the middle of the forehead (face units, up is negative).
    hairline: f32,
    /// How much higher the hairline is at the temples (at 0.2 it is straight).
    recede: f32,
    /// How much the hairline slopes from one side to the other.
    parting: f32,
    /// How far the hair stands out from the skull.
    volume: f32,
    /// Where the hair at the sides ends (face units below the face centre).
    length: f32,
}

enum Beard {
    Full { density: f32 },
    Goatee { density: f32 },
    Stubble,
}

struct Glasses {
    round: bool,
    frame: Rgb,
    thickness: f32,
    size: f32,
}

/// Everything that makes one person look like themself in every image.
///
/// Lengths are in face units: the face is 2 wide (cheek to cheek), its
/// centre (between the eyes and the nose tip) is the origin, y points down.
struct Identity {
    skin: Rgb,
    lip: Rgb,
    blush: f32,
    /// Face width relative to the average face.
    width: f32,
    /// Half-height of the head above the centre, and of the face below it.
    top: f32,
    chin: f32,
    /// Exponent of the lower face's outline: 1.7 pointed .. 2.8 square jaw.
    jaw: f32,
    eye_x: f32,
    eye_y: f32,
    eye_w: f32,
    eye_h: f32,
    eye_tilt: f32,
    iris: Rgb,
    lash: f32,
    brow_gap: f32,
    brow_arch: f32,
    brow_thickness: f32,
    brow_tilt: f32,
    brow_color: Rgb,
    nose_y: f32,
    nose_w: f32,
    nose_h: f32,
    mouth_y: f32,
    mouth_w: f32,
    upper_lip: f32,
    lower_lip: f32,
    hair: Hair,
    ear_h: f32,
    ear_out: f32,
    beard: Option<Beard>,
    moustache: Option<f32>,
    glasses: Option<Glasses>,
    /// (x, y, radius) of moles.
    moles: Vec<[f32; 3]>,
    freckles: f32,
    texture: Noise,
}

impl Identity {
    fn draw(rng: &mut impl Rng) -> Self {
        let tone = rng.gen_range(0.0f32..4.0);
        let skin = jitter(
            rng,
            lerp(
                SKIN[tone as usize],
                SKIN[(tone as usize + 1).min(4)],
                tone.fract(),
            ),
            0.04,
        );
        let dark = tone > 2.3;
        let grey = rng.gen_bool(0.14);
        let hair_color = if grey {
            pick(rng, &HAIR_GREY)
        } else if dark || rng.gen_bool(0.45) {
            pick(rng, &HAIR_DARK)
        } else {
            pick(rng, &HAIR_LIGHT)
        };
        let hair_color = jitter(rng, hair_color, 0.1);
        let style = match rng.gen_range(0..100) {
            0..=7 => HairStyle::Bald,
            8..=52 => HairStyle::Short,
            53..=74 => HairStyle::Medium,
            75..=91 => HairStyle::Long,
            _ => HairStyle::Curly,
        };
        let hair = Hair {
            style,
            color: hair_color,
            hairline: rng.gen_range(-0.85..-0.55),
            recede: if rng.gen_bool(0.3) {
                rng.gen_range(0.2..0.55)
            } else {
                rng.gen_range(0.0..0.15)
            },
            parting: rng.gen_range(-0.1..0.1),
            volume: match style {
                HairStyle::Bald => 0.02,
                HairStyle::Short => rng.gen_range(0.04..0.12),
                HairStyle::Medium | HairStyle::Long => rng.gen_range(0.08..0.2),
                HairStyle::Curly => rng.gen_range(0.2..0.38),
            },
            length: match style {
                HairStyle::Bald | HairStyle::Short => rng.gen_range(-0.15..0.05),
                HairStyle::Medium | HairStyle::Curly => rng.gen_range(0.3..0.9),
                HairStyle::Long => rng.gen_range(1.5..2.4),
            },
        };
        let eye_w = rng.gen_range(0.16..0.21);
        let nose_y = rng.gen_range(0.26..0.38);
        let mouth_y = nose_y + rng.gen_range(0.22..0.3);
        let iris = if dark {
            IRIS[rng.gen_range(0..2)]
        } else {
            pick(rng, &IRIS)
        };
        let lip = jitter(rng, mul(skin, [0.88, 0.6, 0.6]), 0.06);
        let long_hair = matches!(style, HairStyle::Long);
        let beard = match rng.gen_range(0..100) {
            _ if long_hair => None,
            0..=9 => Some(Beard::Full {
                density: rng.gen_range(0.6..0.95),
            }),
            10..=15 => Some(Beard::Goatee {
                density: rng.gen_range(0.6..0.95),
            }),
            16..=23 => Some(Beard::Stubble),
            _ => None,
        };
        let moustache = (!long_hair && rng.gen_bool(0.15)).then(|| rng.gen_range(0.04..0.08));
        let glasses = rng.gen_bool(0.2).then(|| Glasses {
            round: rng.gen_bool(0.4),
            frame: pick(rng, &FRAMES),
            thickness: rng.gen_range(0.015..0.035),
            size: rng.gen_range(0.95..1.15),
        });
        let moles = (0..rng.gen_range(0..3))
            .map(|_| {
                [
                    rng.gen_range(-0.7..0.7),
                    rng.gen_range(-0.5..0.9),
                    rng.gen_range(0.012..0.025),
                ]
            })
            .collect();
        Self {
            skin,
            lip,
            blush: rng.gen_range(0.0..0.12),
            width: rng.gen_range(0.92..1.08),
            top: rng.gen_range(1.2..1.35),
            chin: (mouth_y + rng.gen_range(0.42f32..0.58)).max(1.05),
            jaw: rng.gen_range(1.7..2.8),
            eye_x: rng.gen_range(0.36..0.44),
            eye_y: rng.gen_range(-0.2..-0.1),
            eye_w,
            eye_h: eye_w * rng.gen_range(0.36..0.48),
            eye_tilt: rng.gen_range(-0.08..0.12),
            iris: jitter(rng, iris, 0.1),
            lash: rng.gen_range(0.018..0.032),
            brow_gap: rng.gen_range(0.13..0.19),
            brow_arch: rng.gen_range(0.01..0.05),
            brow_thickness: rng.gen_range(0.035..0.075),
            brow_tilt: rng.gen_range(-0.03..0.04),
            brow_color: if grey {
                scale(hair_color, 0.6)
            } else {
                scale(hair_color, 0.8)
            },
            nose_y,
            nose_w: rng.gen_range(0.13..0.2),
            nose_h: rng.gen_range(0.16..0.3),
            mouth_y,
            mouth_w: rng.gen_range(0.26..0.38),
            upper_lip: rng.gen_range(0.035..0.065),
            lower_lip: rng.gen_range(0.05..0.09),
            hair,
            ear_h: rng.gen_range(0.22..0.3),
            ear_out: rng.gen_range(0.06..0.16),
            beard,
            moustache,
            glasses,
            moles,
            freckles: if tone < 1.5 && rng.gen_bool(0.25) {
                rng.gen_range(0.3..0.8)
            } else {
                0.0
            },
            texture: Noise::new(rng),
        }
    }
}

enum Occlusion {
    Sunglasses,
    Hand {
        x: f32,
        y: f32,
    },
    Patch {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Hat {
        line: f32,
        color: Rgb,
    },
    Scarf {
        color: Rgb,
        stripes: f32,
    },
}

/// What changes between two photos of one person.
struct Shot {
    /// Face centre in pixels and pixels per face unit.
    cx: f32,
    cy: f32,
    unit: f32,
    roll: f32,
    yaw: f32,
    pitch: f32,
    /// Direction towards the key light (x right, y down, z to the camera).
    light: [f32; 3],
    ambient: f32,
    key: f32,
    tint: Rgb,
    smile: f32,
    open: f32,
    eyes: f32,
    brows: f32,
    gaze: [f32; 2],
    occlusion: Option<Occlusion>,
    clothes: Rgb,
    shirt: Option<Rgb>,
    shoulders: f32,
}

impl Shot {
    fn draw(id: &Identity, size: f32, rng: &mut impl Rng) -> Self {
        let mut normal =
            |sd: f32, limit: f32| (sd * rng.sample::<f32, _>(StandardNormal)).clamp(-limit, limit);
        let (roll, yaw, pitch) = (normal(0.08, 0.25), normal(0.22, 0.6), normal(0.07, 0.18));
        let lx: f32 = rng.gen_range(-0.8..0.8);
        let ly: f32 = rng.gen_range(-0.7..0.15);
        let light = normalize([lx, ly, (1.0 - lx * lx - ly * ly).max(0.15).sqrt()]);
        let smile = if rng.gen_bool(0.35) {
            rng.gen_range(0.3..1.0)
        } else {
            rng.gen_range(0.0..0.15)
        };
        let open = if rng.gen_bool(0.15) {
            rng.gen_range(0.03..0.11)
        } else {
            0.0
        };
        let eyes = match rng.gen_range(0..100) {
            0..=3 => 0.05,
            4..=14 => rng.gen_range(0.45..0.7),
            _ => rng.gen_range(0.85..1.1),
        };
        let brows = if rng.gen_bool(0.15) {
            rng.gen_range(0.03..0.07)
        } else {
            0.0
        };
        let gaze = [rng.gen_range(-0.05..0.05), rng.gen_range(-0.01..0.01)];
        let occlusion = match rng.gen_range(0..100) {
            0..=2 if id.glasses.is_none() => Some(Occlusion::Sunglasses),
            3..=4 => Some(Occlusion::Hand {
                x: rng.gen_range(-0.7..0.7),
                y: rng.gen_range(0.7..1.2),
            }),
            5..=6 => Some(Occlusion::Patch {
                x: rng.gen_range(-1.3..0.6),
                y: rng.gen_range(-0.3..1.0),
                w: rng.gen_range(0.35..0.7),
                h: rng.gen_range(0.3..0.6),
                color: pick_jittered(rng, &CLOTHES, 0.2),
            }),
            7..=10 => Some(Occlusion::Hat {
                line: rng.gen_range(-0.75..-0.55),
                color: pick_jittered(rng, &CLOTHES, 0.2),
            }),
            11..=12 => Some(Occlusion::Scarf {
                color: pick_jittered(rng, &CLOTHES, 0.2),
                stripes: rng.gen_range(0.0..1.0),
            }),
            _ => None,
        };
        let clothes = pick_jittered(rng, &CLOTHES, 0.15);
        let shirt = rng
            .gen_bool(0.5)
            .then(|| pick_jittered(rng, &CLOTHES[3..5], 0.05));
        Self {
            cx: size * (0.5 + rng.gen_range(-0.035..0.035)),
            cy: size * (0.44 + rng.gen_range(-0.035..0.035)),
            unit: size * 0.235 * id.width * rng.gen_range(0.9..1.1),
            roll,
            yaw,
            pitch,
            light,
            ambient: rng.gen_range(0.3..0.5),
            key: rng.gen_range(0.55..0.85),
            tint: jitter(rng, [1.0, 0.98, 0.95], 0.07),
            smile,
            open,
            eyes,
            brows,
            gaze,
            occlusion,
            clothes,
            shirt,
            shoulders: id.chin + rng.gen_range(0.1..0.3),
        }
    }
}

/// A float RGB canvas in 0..1.
struct Canvas {
    size: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    fn box_blur(&mut self) {
        let n = self.size;
        let src = self.px.clone();
        for y in 0..n {
            for x in 0..n {
                let mut acc = [0.0f32; 3];
                let mut count = 0.0;
                for yy in y.saturating_sub(1)..(y + 2).min(n) {
                    for xx in x.saturating_sub(1)..(x + 2).min(n) {
                        for c in 0..3 {
                            acc[c] += src[yy * n + xx][c];
                        }
                        count += 1.0;
                    }
                }
                self.px[y * n + x] = acc.map(|v| v / count);
            }
        }
    }
}

/// Plain walls, gradients, mottled noise, or blurred clutter (a press room).
fn background(n: usize, rng: &mut impl Rng) -> Canvas {
    let s = n as f32;
    let (a, b) = (muted(rng), muted(rng));
    let angle = rng.gen_range(0.0..TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let kind = rng.gen_range(0..4);
    let noise = Noise::new(rng);
    let freq = rng.gen_range(3.0..12.0) / s;
    let mut canvas = Canvas {
        size: n,
        px: vec![a; n * n],
    };
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f32 / s - 0.5, y as f32 / s - 0.5);
            let t = match kind {
                0 => 0.1 * (fx * fx + fy * fy),
                1 | 3 => 0.5 + (fx * dx + fy * dy),
                _ => 0.5 + 0.6 * noise.fractal(x as f32 * freq, y as f32 * freq),
            };
            canvas.px[y * n + x] = lerp(a, b, t.clamp(0.0, 1.0));
        }
    }
    if kind == 3 {
        for _ in 0..rng.gen_range(15..50) {
            let color = muted(rng);
            let (x0, y0) = (rng.gen_range(0.0..s), rng.gen_range(0.0..s));
            let (w, h) = (rng.gen_range(0.03..0.3) * s, rng.gen_range(0.03..0.3) * s);
            let round = rng.gen_bool(0.4);
            for y in (y0 as usize)..((y0 + h) as usize).min(n) {
                for x in (x0 as usize)..((x0 + w) as usize).min(n) {
                    let inside = !round
                        || ellipse(
                            x as f32 - x0 - w / 2.0,
                            y as f32 - y0 - h / 2.0,
                            w / 2.0,
                            h / 2.0,
                        ) < 0.0;
                    if inside {
                        canvas.px[y * n + x] = color;
                    }
                }
            }
        }
        for _ in 0..rng.gen_range(1..4) {
            canvas.box_blur();
        }
    }
    canvas
}

/// A muted colour of any hue at any brightness.
fn muted(rng: &mut impl Rng) -> Rgb {
    let hue = [rng.gen::<f32>(), rng.gen::<f32>(), rng.gen::<f32>()];
    scale(
        lerp([0.5; 3], hue, rng.gen_range(0.1..0.6)),
        rng.gen_range(0.3..1.1),
    )
}

/// Where a pixel lies on the head: the angle around the head's vertical axis
/// (0 faces the camera; beyond ±π/2 is the side and back) and the face
/// coordinates `(u, v)` of the front, with yaw and pitch undone.
#[derive(Clone, Copy)]
struct Surface {
    angle: f32,
    u: f32,
    v: f32,
    front: bool,
}

/// Paints one person over a background, pixel by pixel, back to front:
/// clothes, long hair, neck, ears, head (skin, relief, features), beard,
/// glasses, hair, occlusions.
struct Painter<'a> {
    id: &'a Identity,
    shot: &'a Shot,
    /// One pixel in face units: the width of anti-aliased edges.
    aa: f32,
}

impl<'a> Painter<'a> {
    fn new(id: &'a Identity, shot: &'a Shot) -> Self {
        Self {
            id,
            shot,
            aa: 1.0 / shot.unit,
        }
    }

    fn paint(&self, canvas: &mut Canvas) {
        let n = canvas.size;
        let (sin, cos) = self.shot.roll.sin_cos();
        for y in 0..n {
            for x in 0..n {
                let dx = (x as f32 + 0.5 - self.shot.cx) / self.shot.unit;
                let dy = (y as f32 + 0.5 - self.shot.cy) / self.shot.unit;
                let (xs, ys) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                let px = &mut canvas.px[y * n + x];
                *px = self.pixel(xs, ys, *px);
            }
        }
    }

    /// The colour at head-frame screen coordinates `(xs, ys)` over `bg`.
    fn pixel(&self, xs: f32, ys: f32, bg: Rgb) -> Rgb {
        let mut c = bg;
        self.clothes(xs, ys, &mut c);
        self.back_hair(xs, ys, &mut c);
        self.neck(xs, ys, &mut c);
        self.outer_ears(xs, ys, &mut c);
        let surface = self.surface(xs, ys);
        let head = cover(self.head_distance(xs, ys, 0.0), self.aa * 1.3);
        if head > 0.0 {
            let skin = self.skin(xs, ys, surface);
            blend(&mut c, skin, head);
        }
        self.beard(xs, ys, surface, &mut c);
        if surface.front && head > 0.0 {
            self.glasses(xs, ys, surface, &mut c);
        }
        self.hair(xs, ys, surface, head, &mut c);
        self.occlusion(xs, ys, surface, &mut c);
        c
    }

    fn surface(&self, xs: f32, ys: f32) -> Surface {
        let (id, shot) = (self.id, self.shot);
        let angle = xs.clamp(-1.0, 1.0).asin() - shot.yaw;
        let b = (id.top + id.chin) / 2.0;
        let v = b * ((ys / b).clamp(-1.0, 1.0).asin() - shot.pitch).sin();
        Surface {
            angle,
            u: angle.sin(),
            v,
            front: angle.abs() < FRAC_PI_2,
        }
    }

    /// Signed distance to the head's outline, grown by `grow`.
    fn head_distance(&self, xs: f32, ys: f32, grow: f32) -> f32 {
        let id = self.id;
        let w = 1.0 + grow;
        if ys <= 0.0 {
            ((xs / w).hypot(ys / (id.top + grow)) - 1.0) * w
        } else {
            let p = id.jaw;
            (((xs / w).abs().powf(p) + (ys / (id.chin + grow)).powf(p)).powf(1.0 / p) - 1.0) * w
        }
    }

    /// The head's normal at a screen point (an ellipsoid).
    fn head_normal(&self, xs: f32, ys: f32, grow: f32) -> [f32; 3] {
        let b = if ys < 0.0 { self.id.top } else { self.id.chin } + grow;
        let (nx, ny) = (xs / (1.0 + grow), ys / b);
        [nx, ny, (1.0 - nx * nx - ny * ny).max(0.02).sqrt()]
    }

    /// Ambient + Lambertian key light + a little specular shine.
    fn light(&self, albedo: Rgb, normal: [f32; 3], occlusion: f32, shine: f32) -> Rgb {
        let shot = self.shot;
        let diffuse = dot(normal, shot.light).max(0.0);
        let half = normalize([shot.light[0], shot.light[1], shot.light[2] + 1.0]);
        let spec = shine * dot(normal, half).max(0.0).powi(24);
        let k = (shot.ambient + shot.key * diffuse) * occlusion;
        [0, 1, 2].map(|c| (albedo[c] * k + spec) * shot.tint[c])
    }

    /// The face's relief: height above the ellipsoid at `(u, v)`, and how
    /// much ambient light reaches there (less in the eye sockets).
    fn relief(&self, u: f32, v: f32) -> (f32, f32) {
        let id = self.id;
        let un = u - self.nose_shift(v);
        let ridge = smoothstep(id.eye_y - 0.05, id.nose_y - 0.08, v)
            * (1.0 - smoothstep(id.nose_y - 0.06, id.nose_y + 0.03, v));
        let bridge = 0.35 + 0.65 * ridge;
        let nose = id.nose_h
            * bridge
            * gauss(un, 0.0, id.nose_w * 0.55, 1.0)
            * smoothstep(id.eye_y - 0.1, id.eye_y + 0.05, v)
            * (1.0 - smoothstep(id.nose_y - 0.04, id.nose_y + 0.03, v))
            + id.nose_h * 0.35 * gauss(un, v - id.nose_y + 0.06, id.nose_w * 0.8, 0.07)
            + 0.06
                * gauss(
                    un.abs() - id.nose_w * 0.55,
                    v - id.nose_y + 0.04,
                    0.07,
                    0.06,
                );
        let ex = u.abs() - id.eye_x;
        let socket = -0.11 * gauss(ex, v - id.eye_y + 0.015, id.eye_w * 1.35, 0.15);
        let h = nose
            + socket
            + 0.05 * gauss(ex, v - (id.eye_y - id.brow_gap - 0.04), 0.3, 0.07)
            + 0.06 * gauss(u.abs() - 0.55, v - 0.12, 0.25, 0.2)
            + 0.04 * gauss(u, v - id.mouth_y + 0.02, id.mouth_w, 0.1)
            + 0.06 * gauss(u, v - id.chin + 0.25, 0.3, 0.15)
            - 0.03 * gauss(u, v - id.mouth_y - 0.14, 0.25, 0.05);
        (h, 1.0 + 2.2 * socket)
    }

    /// How far the nose appears shifted sideways by the yaw at height `v`.
    fn nose_shift(&self, v: f32) -> f32 {
        let id = self.id;
        id.nose_h * smoothstep(id.eye_y, id.nose_y, v) * self.shot.yaw.sin()
    }

    /// Lit skin (with the face's features on the front) at a head pixel.
    fn skin(&self, xs: f32, ys: f32, s: Surface) -> Rgb {
        let id = self.id;
        let mut normal = self.head_normal(xs, ys, 0.0);
        let mut occlusion = 1.0;
        let grain = id.texture.fractal(s.u * 6.0 + 3.0, s.v * 6.0);
        let mut albedo = scale(id.skin, 1.0 + 0.06 * grain);
        if s.front {
            let e = 0.01;
            let (h, ao) = self.relief(s.u, s.v);
            let gu = (self.relief(s.u + e, s.v).0 - h) / e;
            let gv = (self.relief(s.u, s.v + e).0 - h) / e;
            normal = normalize([normal[0] - gu, normal[1] - gv, normal[2]]);
            occlusion = ao * self.nose_shadow(s) * self.mouth_shadow(s);
            self.features(s, &mut albedo);
        } else {
            self.side_ear(s, &mut albedo);
        }
        self.light(albedo, normal, occlusion, 0.12)
    }

    /// The shadow the nose casts away from the key light onto the upper lip.
    fn nose_shadow(&self, s: Surface) -> f32 {
        let (id, l) = (self.id, self.shot.light);
        let un = s.u - self.nose_shift(s.v);
        let strength = 0.35 * (-l[1]).clamp(0.1, 0.8) + 0.2 * l[0].abs();
        1.0 - strength
            * gauss(
                un + l[0] * 0.08,
                s.v - id.nose_y - 0.05,
                id.nose_w * 0.9,
                0.05,
            )
    }

    /// The darker fold under the lower lip and the corners of the mouth.
    fn mouth_shadow(&self, s: Surface) -> f32 {
        let id = self.id;
        let t = s.u / id.mouth_w;
        1.0 - 0.25
            * gauss(
                s.u,
                s.v - id.mouth_y - id.lower_lip - 0.06,
                id.mouth_w * 0.6,
                0.035,
            )
            - 0.2
                * gauss(
                    t.abs() - 1.05,
                    s.v - id.mouth_y + self.shot.smile * 0.05,
                    0.08,
                    0.05,
                )
    }

    fn features(&self, s: Surface, albedo: &mut Rgb) {
        let id = self.id;
        let (u, v) = (s.u, s.v);
        // Blush on the cheeks, freckles over nose and cheeks, moles.
        let cheeks = gauss(u.abs() - 0.5, v - 0.2, 0.25, 0.2);
        blend(albedo, mul(id.skin, [1.0, 0.75, 0.75]), id.blush * cheeks);
        if id.freckles > 0.0 {
            let spot = id.texture.at(u * 40.0, v * 40.0 + 100.0);
            let region = gauss(u, v - 0.1, 0.7, 0.3);
            let a = smoothstep(0.45, 0.75, spot) * region * id.freckles;
            blend(albedo, mul(id.skin, [0.75, 0.55, 0.45]), a);
        }
        for &[mx, my, r] in &id.moles {
            let d = (u - mx).hypot(v - my) - r;
            blend(
                albedo,
                mul(id.skin, [0.4, 0.3, 0.25]),
                0.85 * cover(d, self.aa),
            );
        }
        for side in [-1.0, 1.0] {
            let du = (u - side * id.eye_x) * side;
            self.brow(du, v - id.eye_y, albedo);
            self.eye(du, u - side * id.eye_x, v - id.eye_y, albedo);
        }
        self.nostrils(u - self.nose_shift(v), v, albedo);
        self.mouth(u - 0.3 * self.nose_shift(v), v, albedo);
    }

    /// One eyebrow; `du` runs outwards from above the eye's centre.
    fn brow(&self, du: f32, dv: f32, albedo: &mut Rgb) {
        let id = self.id;
        let t = (du - 0.02) / (id.eye_w * 1.3);
        if t.abs() > 1.2 {
            return;
        }
        let centre = -(id.brow_gap + self.shot.brows)
            - id.brow_arch * (1.0 - ((t - 0.25) / 1.25).powi(2))
            + id.brow_tilt * t;
        let half = id.brow_thickness * (1.0 - 0.4 * t.max(-1.0)) * 0.5;
        let ends = 1.0 - smoothstep(0.8, 1.1, t.abs());
        let hairs = 0.85 + 0.15 * id.texture.at(du * 60.0, dv * 8.0);
        let d = (dv - centre).abs() - half;
        blend(
            albedo,
            id.brow_color,
            cover(d, self.aa * 2.0) * ends * hairs,
        );
    }

    /// One eye: sclera, iris, pupil, lids and lashes. `du` runs outwards;
    /// `dx` is the same offset in image direction (for the gaze).
    fn eye(&self, du: f32, dx: f32, dv: f32, albedo: &mut Rgb) {
        let (id, shot, aa) = (self.id, self.shot, self.aa);
        let dv = dv + id.eye_tilt * du;
        let t = du / id.eye_w;
        if t.abs() > 1.4 || dv.abs() > 0.3 {
            return;
        }
        let shape = (1.0 - t * t).max(0.0);
        let eh = id.eye_h * shot.eyes;
        let upper = -eh * shape.powf(0.7) * (1.0 - 0.15 * t);
        let lower = eh * 0.6 * shape;
        // The lid crease above, and the skin around the eye a little darker.
        let crease = -id.eye_h * 1.45 * shape.sqrt() - 0.012;
        blend(
            albedo,
            mul(id.skin, [0.7, 0.62, 0.6]),
            0.35 * cover((dv - crease).abs() - 0.008, aa * 2.0) * shape,
        );
        let inside = cover(
            (upper - dv).max(dv - lower).max((t.abs() - 1.0) * id.eye_w),
            aa,
        );
        if inside > 0.0 {
            let mut c = scale([0.85, 0.81, 0.77], 1.0 - 0.35 * t * t);
            let (ix, iy) = (dx - shot.gaze[0], dv - shot.gaze[1]);
            let ir = id.eye_h * 0.95;
            let r = ix.hypot(iy);
            let iris = scale(
                id.iris,
                1.0 - 0.5 * smoothstep(0.7 * ir, ir, r)
                    + 0.25 * id.texture.at(ix * 80.0, iy * 80.0),
            );
            blend(&mut c, iris, cover(r - ir, aa));
            blend(&mut c, [0.03, 0.03, 0.03], cover(r - ir * 0.42, aa));
            let l = shot.light;
            let glint = (ix - l[0] * ir * 0.4).hypot(iy - l[1] * ir * 0.4) - ir * 0.16;
            blend(&mut c, [0.95, 0.95, 0.95], 0.8 * cover(glint, aa));
            // The upper lid shades the eyeball.
            c = scale(c, 0.6 + 0.4 * smoothstep(upper, upper + id.eye_h * 0.7, dv));
            blend(albedo, c, inside);
        }
        let lash = id.lash * (1.0 + 0.6 * t.max(0.0));
        let ends = 1.0 - smoothstep(0.95, 1.15, t.abs());
        let d = (dv - upper + lash * 0.3).abs() - lash * 0.5;
        blend(albedo, [0.05, 0.04, 0.04], 0.9 * cover(d, aa) * ends);
        let d = (dv - lower).abs() - 0.005;
        blend(
            albedo,
            mul(id.skin, [0.55, 0.45, 0.42]),
            0.5 * cover(d, aa) * ends,
        );
    }

    fn nostrils(&self, u: f32, v: f32, albedo: &mut Rgb) {
        let id = self.id;
        for side in [-1.0, 1.0] {
            let d = ellipse(
                u - side * id.nose_w * 0.48,
                v - id.nose_y + 0.005,
                id.nose_w * 0.27,
                id.nose_w * 0.13,
            );
            blend(
                albedo,
                mul(id.skin, [0.3, 0.2, 0.18]),
                0.8 * cover(d, self.aa * 1.5),
            );
            // The crease around the nose's wing.
            let wing = ellipse(
                u - side * id.nose_w * 0.55,
                v - id.nose_y + 0.04,
                id.nose_w * 0.5,
                0.08,
            );
            let crease = cover(wing.abs() - 0.006, self.aa * 1.5)
                * smoothstep(-0.2, 0.5, side * u / id.nose_w);
            blend(
                albedo,
                mul(id.skin, [0.6, 0.5, 0.48]),
                0.35 * crease * smoothstep(id.nose_y - 0.1, id.nose_y, v),
            );
        }
    }

    fn mouth(&self, u: f32, v: f32, albedo: &mut Rgb) {
        let (id, shot, aa) = (self.id, self.shot, self.aa);
        let width = id.mouth_w * (1.0 + 0.12 * shot.smile);
        let t = u / width;
        let dv = v - id.mouth_y;
        if t.abs() > 1.3 || dv.abs() > 0.3 {
            return;
        }
        let shape = (1.0 - t * t).max(0.0);
        let line = shot.smile * (0.01 - 0.06 * t * t);
        let gap = shot.open * shape.sqrt();
        let bow = 1.0 - 0.3 * gauss(t, 0.0, 0.15, 1.0);
        let top = line - gap / 2.0 - id.upper_lip * shape.sqrt() * bow;
        let bottom = line + gap / 2.0 + id.lower_lip * shape.powf(0.6);
        let lips = cover(
            (top - dv).max(dv - bottom).max((t.abs() - 1.0) * width),
            aa * 2.0,
        );
        let sheen = 1.0 + 0.15 * gauss(t, dv - (bottom + line) / 2.0, 0.5, 0.02);
        let shade = if dv < line { 0.85 } else { sheen };
        blend(albedo, scale(id.lip, shade), 0.9 * lips);
        if gap > 0.0 {
            let d = (dv - line).abs() - gap / 2.0;
            let teeth = smoothstep(
                line - gap / 2.0 + gap * 0.45,
                line - gap / 2.0 + gap * 0.35,
                dv,
            );
            let inside = lerp([0.12, 0.04, 0.04], [0.82, 0.78, 0.7], teeth * shape);
            blend(albedo, inside, cover(d, aa));
        }
        let ends = 1.0 - smoothstep(0.95, 1.12, t.abs());
        let d = (dv - line).abs() - 0.008;
        blend(
            albedo,
            mul(id.lip, [0.35, 0.25, 0.25]),
            0.85 * cover(d, aa * 1.5) * ends,
        );
    }

    /// An ear seen on the side of a turned head.
    fn side_ear(&self, s: Surface, albedo: &mut Rgb) {
        let id = self.id;
        let ear_v = (id.eye_y + id.nose_y) / 2.0 + 0.02;
        for side in [-1.0f32, 1.0] {
            let da = s.angle - side * (FRAC_PI_2 + 0.1);
            let d = ellipse(da, s.v - ear_v, 0.28, id.ear_h);
            if d < 0.05 {
                let inner = cover(
                    ellipse(da, s.v - ear_v + 0.02, 0.15, id.ear_h * 0.6),
                    self.aa * 2.0,
                );
                let mut ear = scale(id.skin, 0.92);
                blend(&mut ear, scale(id.skin, 0.6), inner * 0.7);
                blend(albedo, ear, cover(d, self.aa));
            }
        }
    }

    /// Ears sticking out behind the cheeks.
    fn outer_ears(&self, xs: f32, ys: f32, c: &mut Rgb) {
        let id = self.id;
        let ear_v = (id.eye_y + id.nose_y) / 2.0 + 0.02;
        for side in [-1.0f32, 1.0] {
            let turned = (side * (FRAC_PI_2 + 0.1) + self.shot.yaw).abs();
            let out = id.ear_out * smoothstep(FRAC_PI_2 - 0.1, FRAC_PI_2 + 0.1, turned);
            if out <= 0.01 {
                continue;
            }
            let (ex, ey) = (xs - side * (0.97 + out * 0.5), ys - ear_v);
            let d = ellipse(ex, ey, out + 0.05, id.ear_h);
            if d < 0.05 {
                let inner = cover(
                    ellipse(ex + side * 0.02, ey + 0.02, out * 0.5, id.ear_h * 0.6),
                    self.aa * 2.0,
                );
                let mut ear = id.skin;
                blend(&mut ear, scale(id.skin, 0.6), inner * 0.7);
                let lit = self.light(ear, normalize([side, ey, 0.6]), 0.9, 0.0);
                blend(c, lit, cover(d, self.aa));
            }
        }
    }

    fn neck(&self, xs: f32, ys: f32, c: &mut Rgb) {
        let id = self.id;
        let w = 0.62 + 0.1 * smoothstep(id.chin, id.chin + 0.6, ys);
        // It ends under the clothes, which are painted first (below long hair).
        let d = (xs.abs() - w)
            .max(0.2 - ys)
            .max(ys - self.shoulder_line(xs) - 0.03);
        if d > self.aa {
            return;
        }
        let shadow = 0.45 + 0.4 * smoothstep(id.chin - 0.1, id.chin + 0.35, ys);
        let normal = normalize([xs / w, 0.2, (1.0 - (xs / w).powi(2)).max(0.05).sqrt()]);
        let lit = self.light(id.skin, normal, shadow, 0.0);
        blend(c, lit, cover(d, self.aa * 1.3));
    }

    /// The top of the shoulders (and of the clothes) at `xs`.
    fn shoulder_line(&self, xs: f32) -> f32 {
        self.shot.shoulders
            + 0.4 * smoothstep(0.5, 1.9, xs.abs())
            + 0.5 * (xs.abs() - 1.9).max(0.0).powi(2)
    }

    /// Shoulders and clothes: a jacket or top, sometimes a shirt's V.
    fn clothes(&self, xs: f32, ys: f32, c: &mut Rgb) {
        let shot = self.shot;
        let d = self.shoulder_line(xs) - ys;
        if d > self.aa {
            return;
        }
        let depth = ys - shot.shoulders;
        let mut albedo = shot.clothes;
        // The neckline: skin in a V (or a shirt's V with a tie).
        let v_half = 0.55 * (1.0 - depth / 1.1);
        let in_v = cover(xs.abs() - v_half, self.aa);
        if let Some(shirt) = shot.shirt {
            blend(&mut albedo, shirt, in_v);
            let tie = cover(xs.abs() - 0.07 - 0.05 * depth.max(0.0), self.aa)
                * smoothstep(0.1, 0.2, depth);
            blend(&mut albedo, scale(shot.clothes, 0.6), tie * in_v);
        }
        let normal = normalize([xs * 0.3, -0.6 + 0.3 * depth.min(1.0), 0.8]);
        let mut lit = self.light(albedo, normal, 0.9, 0.0);
        if shot.shirt.is_none() {
            // An open collar: the neck continues into the V.
            let skin = self.light(self.id.skin, [0.0, 0.0, 1.0], 0.7, 0.0);
            blend(&mut lit, skin, in_v);
        }
        blend(c, lit, cover(d, self.aa));
    }

    /// Long hair falling behind the neck onto the shoulders.
    fn back_hair(&self, xs: f32, ys: f32, c: &mut Rgb) {
        let hair = &self.id.hair;
        if hair.length < 0.5 {
            return;
        }
        let ragged = 0.08 * self.id.texture.at(xs * 6.0 + 50.0, 0.0);
        // Not over the chest: it falls behind the neck and over the shoulders.
        let chest = (0.75 - xs.abs()).min(ys - self.shoulder_line(xs));
        let d = self
            .head_distance(xs, ys.min(0.0), hair.volume + 0.12 * ys.max(0.0))
            .max(ys - hair.length - ragged)
            .max(chest);
        if d > self.aa {
            return;
        }
        let albedo = self.hair_albedo(xs, ys);
        let lit = self.light(
            albedo,
            self.head_normal(xs, ys.min(0.0), hair.volume),
            0.75,
            0.0,
        );
        blend(c, lit, cover(d, self.aa * 1.5));
    }

    fn hair_albedo(&self, xs: f32, ys: f32) -> Rgb {
        let hair = &self.id.hair;
        let curly = matches!(hair.style, HairStyle::Curly);
        let strands = if curly {
            self.id.texture.fractal(xs * 14.0, ys * 14.0 + 70.0)
        } else {
            self.id.texture.fractal(xs * 30.0, ys * 3.0 + 70.0)
        };
        scale(hair.color, 1.0 + 0.45 * strands)
    }

    /// Hair on the head: the top above the hairline, the sides, the back of a
    /// turned head, and the volume standing out beyond the skull.
    fn hair(&self, xs: f32, ys: f32, s: Surface, head: f32, c: &mut Rgb) {
        let (id, hair, aa) = (self.id, &self.id.hair, self.aa);
        if self.head_distance(xs, ys, hair.volume + 0.06) > aa {
            return;
        }
        let ragged =
            0.03 * id.texture.at(s.u * 10.0, 7.0) + 0.02 * id.texture.at(s.angle * 25.0, 9.0);
        let (on_head, shell) = if matches!(hair.style, HairStyle::Bald) {
            // A fringe of hair over the ears.
            let band = ((s.v + 0.2).abs() - 0.25 - ragged).max(1.25 - s.angle.abs());
            (cover(band, aa * 2.0), 0.0)
        } else {
            let line =
                hair.hairline + (0.2 - hair.recede) * s.u * s.u + hair.parting * s.u + ragged;
            let top = cover(s.v - line, aa * 2.0);
            let side_angle = if hair.length > 0.2 { 1.15 } else { 1.3 };
            let bottom = hair.length.min(id.chin) + ragged;
            let sides = cover((side_angle - s.angle.abs()).max(s.v - bottom), aa * 2.0);
            // Beyond the skull the hair thins out towards its ends.
            let reach = hair.volume * (1.0 - smoothstep(-0.5, bottom.max(0.0), ys)) + ragged;
            let d = self.head_distance(xs, ys, reach).max(ys - bottom);
            (top.max(sides), cover(d, aa * 2.0))
        };
        let a = on_head * head + shell * (1.0 - head);
        if a <= 0.0 {
            return;
        }
        let albedo = self.hair_albedo(xs, ys);
        let normal = self.head_normal(xs, ys, hair.volume);
        let lit = self.light(albedo, normal, 1.0, 0.08);
        blend(c, lit, a);
    }

    fn beard(&self, xs: f32, ys: f32, s: Surface, c: &mut Rgb) {
        let (id, aa) = (self.id, self.aa);
        let mouth = ellipse(
            s.u,
            s.v - id.mouth_y - 0.01,
            id.mouth_w + 0.02,
            id.lower_lip + 0.02 + self.shot.open / 2.0,
        );
        let (region, density, grow) = match id.beard {
            Some(Beard::Full { density }) => {
                let cheek = (0.2 + 0.4 * (1.0 - s.u.abs())) - s.v;
                (cheek.max(-mouth), density, 0.08)
            }
            Some(Beard::Goatee { density }) => {
                let d = (s.u.abs() - 0.3).max(id.mouth_y - 0.02 - s.v);
                (d.max(-mouth), density, 0.05)
            }
            Some(Beard::Stubble) => {
                let cheek = (0.25 + 0.4 * (1.0 - s.u.abs())) - s.v;
                (cheek.max(-mouth), 0.3, 0.0)
            }
            None => (1.0, 0.0, 0.0),
        };
        let mut a = density * cover(region.max(self.head_distance(xs, ys, grow)), aa * 2.0);
        if let (Some(thickness), true) = (id.moustache, s.front) {
            let t = s.u / (id.mouth_w + 0.05);
            let top = id.mouth_y - id.upper_lip - thickness * (1.0 - 0.5 * t * t);
            let d = (t.abs() - 1.0)
                .max(top - s.v)
                .max(s.v - (id.mouth_y - id.upper_lip * 0.5));
            a = a.max(0.9 * cover(d, aa * 2.0));
        }
        if a <= 0.0 {
            return;
        }
        let texture = 0.6 + 0.4 * id.texture.fractal(s.u * 30.0, s.v * 30.0 + 40.0);
        let albedo = scale(id.hair.color, 0.85);
        let lit = self.light(albedo, self.head_normal(xs, ys, grow), 0.9, 0.0);
        blend(c, lit, (a * texture).min(1.0));
    }

    /// The lenses' outline around the eye at `side`, in face units.
    fn lens(&self, s: Surface, side: f32, size: f32, round: bool) -> f32 {
        let id = self.id;
        let (w, h) = (id.eye_w * 1.3 * size, id.eye_w * 0.9 * size);
        let r = if round { h * 0.95 } else { 0.05 };
        rounded_rect(s.u - side * id.eye_x, s.v - id.eye_y - 0.02, w, h, r)
    }

    fn glasses(&self, xs: f32, ys: f32, s: Surface, c: &mut Rgb) {
        let Some(g) = &self.id.glasses else {
            return;
        };
        let (id, aa) = (self.id, self.aa);
        let mut frame: f32 = 0.0;
        let mut lens: f32 = 0.0;
        for side in [-1.0, 1.0] {
            let d = self.lens(s, side, g.size, g.round);
            frame = frame.max(cover(d.abs() - g.thickness / 2.0, aa));
            lens = lens.max(cover(d, aa));
        }
        let inner = id.eye_x - id.eye_w * 1.3 * g.size;
        let bridge =
            (s.u.abs() - inner - 0.02).max((s.v - id.eye_y + 0.06).abs() - g.thickness / 2.0);
        let temples = (inner + id.eye_w * 2.6 * g.size - s.u.abs())
            .max((s.v - id.eye_y + 0.04).abs() - g.thickness / 2.5);
        frame = frame.max(cover(bridge, aa)).max(cover(temples, aa));
        let reflection = 0.08 + 0.1 * smoothstep(-0.3, 0.3, xs + ys);
        blend(c, [0.9, 0.92, 0.95], lens * reflection);
        let lit = self.light(g.frame, self.head_normal(xs, ys, 0.0), 1.0, 0.3);
        blend(c, lit, frame);
    }

    fn occlusion(&self, xs: f32, ys: f32, s: Surface, c: &mut Rgb) {
        let (id, aa) = (self.id, self.aa);
        match &self.shot.occlusion {
            None => {}
            Some(Occlusion::Sunglasses) if s.front && self.head_distance(xs, ys, 0.0) < 0.0 => {
                for side in [-1.0, 1.0] {
                    let d = self.lens(s, side, 1.1, false);
                    let glass = lerp(
                        [0.02, 0.02, 0.03],
                        [0.3, 0.3, 0.32],
                        smoothstep(-0.2, 0.2, s.v - id.eye_y + xs * 0.3),
                    );
                    blend(c, glass, 0.95 * cover(d, aa));
                }
                let inner = id.eye_x - id.eye_w * 1.43;
                let bridge = (s.u.abs() - inner - 0.02).max((s.v - id.eye_y + 0.06).abs() - 0.015);
                blend(c, [0.03, 0.03, 0.03], cover(bridge, aa));
            }
            Some(Occlusion::Sunglasses) => {}
            Some(Occlusion::Hand { x, y }) => {
                let (hx, hy) = (xs - x, ys - y);
                let d = ellipse(hx, hy, 0.5, 0.35);
                if d < aa {
                    let fingers = 0.85 + 0.15 * (hx * 30.0).cos().abs().powf(0.3);
                    let albedo = scale(hand_skin(id.skin), fingers);
                    let lit = self.light(albedo, normalize([hx, hy, 0.8]), 1.0, 0.05);
                    blend(c, lit, cover(d, aa));
                }
            }
            Some(Occlusion::Patch { x, y, w, h, color }) => {
                let d = rounded_rect(xs - x - w / 2.0, ys - y - h / 2.0, w / 2.0, h / 2.0, 0.03);
                let lit = self.light(*color, [0.0, 0.0, 1.0], 1.0, 0.1);
                blend(c, lit, cover(d, aa));
            }
            Some(Occlusion::Hat { line, color }) => {
                let crown = self
                    .head_distance(xs, ys, id.hair.volume + 0.08)
                    .max(ys - line);
                let brim = ellipse(xs, ys - line, 1.25, 0.1);
                let a = cover(crown, aa).max(cover(brim, aa));
                if a > 0.0 {
                    let shade = if brim < 0.0 { 0.75 } else { 1.0 };
                    let lit = self.light(
                        scale(*color, shade),
                        self.head_normal(xs, ys.min(0.0), 0.1),
                        1.0,
                        0.05,
                    );
                    blend(c, lit, a);
                }
            }
            Some(Occlusion::Scarf { color, stripes }) => {
                let top = id.nose_y + 0.08 + 0.04 * (xs * 7.0).sin();
                let d = (top - ys).max(xs.abs() - 1.08 - 0.3 * (ys - id.chin).max(0.0));
                if d < aa {
                    let band = ((ys * 12.0).sin() * stripes).max(0.0);
                    let albedo = scale(*color, 1.0 - 0.4 * band);
                    let lit = self.light(albedo, normalize([xs * 0.5, 0.1, 0.9]), 1.0, 0.0);
                    blend(c, lit, cover(d, aa));
                }
            }
        }
    }
}

/// A hand is the same skin as the face, a touch redder.
fn hand_skin(skin: Rgb) -> Rgb {
    mul(skin, [1.02, 0.96, 0.94])
}

/// The camera: exposure, sometimes blur, sensor noise, 8 bits, sometimes JPEG.
fn camera(mut canvas: Canvas, rng: &mut impl Rng) -> RgbImage {
    let n = canvas.size;
    let exposure = rng.gen_range(-0.25f32..0.25).exp();
    let cast = jitter(rng, [1.0, 1.0, 1.0], 0.04);
    for _ in 0..rng.gen_range(0..3) {
        canvas.box_blur();
    }
    let noise = rng.gen_range(0.0..0.025);
    let mut img = RgbImage::new(n as u32, n as u32);
    for (i, p) in canvas.px.iter().enumerate() {
        let out = [0, 1, 2].map(|c| {
            let v = p[c] * exposure * cast[c] + noise * rng.sample::<f32, _>(StandardNormal);
            (v.clamp(0.0, 1.0) * 255.0).round() as u8
        });
        img.put_pixel((i % n) as u32, (i / n) as u32, image::Rgb(out));
    }
    if rng.gen_bool(0.35) {
        img = jpeg_round_trip(&img, rng.gen_range(30..90)).unwrap_or(img);
    }
    img
}

fn jpeg_round_trip(img: &RgbImage, quality: u8) -> Result<RgbImage> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)?;
    Ok(image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)?.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_has_its_features_in_order_inside_the_face() {
        for person in 0..300 {
            let id = Identity::draw(&mut seed::stream(5, &[purpose::GENERATE, person, IDENTITY]));
            let brow = id.eye_y - id.brow_gap - id.brow_arch - id.brow_thickness;
            assert!(-id.top < id.hair.hairline && id.hair.hairline < brow);
            assert!(brow < id.eye_y && id.eye_y + id.eye_h < id.nose_y);
            assert!(id.nose_y < id.mouth_y - id.upper_lip);
            assert!(id.mouth_y + id.lower_lip + 0.2 < id.chin);
            assert!(id.eye_x + id.eye_w < 0.7 && id.eye_x - id.eye_w > id.nose_w * 0.5);
            assert!(id.mouth_w < 0.5);
        }
    }

    #[test]
    fn noise_is_continuous_and_in_range() {
        let noise = Noise::new(&mut seed::stream(1, &[]));
        let mut last = noise.at(0.0, 3.3);
        for i in 1..2000 {
            let v = noise.at(i as f32 * 0.01, 3.3);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - last).abs() < 0.05, "jump at {i}");
            last = v;
        }
        assert_eq!(noise.at(2.5, 1.5), noise.at(2.5 + 64.0, 1.5 - 64.0));
    }
}
