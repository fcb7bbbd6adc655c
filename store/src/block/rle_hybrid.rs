//! Parquet's RLE/bit-packed hybrid encoding of small integers, as the block writer's own pages
//! hold them: levels and dictionary keys.
//!
//! polars' encoder (`hybrid_rle::encode`) decides value by value whether a run is long enough
//! to be run-length encoded, and zeroes a 32 KiB buffer for literal values on every call: ~7k
//! instructions per ingested document, ~7 % of all that `ingest_parse --stages store` does,
//! for levels that are mostly long runs (a column null in most rows, lists mostly empty). Here
//! values are taken eight at a time, a group packed at once and compared whole: two or more
//! equal groups in a row become one run-length encoded run, other groups bit-packed runs. The
//! format leaves that choice to the writer, and any reader decodes either.

/// Appends `values`, each below `2^bits` (`bits` ≤ 32), as the hybrid, without the length
/// prefix a V1 page puts before levels.
pub(super) fn encode_hybrid(out: &mut Vec<u8>, values: impl Iterator<Item = u32>, bits: u32) {
    let mut encoder = HybridEncoder::new(bits);
    values.for_each(|value| encoder.push(value));
    encoder.finish_into(out);
}

/// Levels as a V1 data page holds them: their byte length (4 bytes, little-endian), then the
/// hybrid.
pub(super) fn levels_v1(bits: u32, levels: impl Iterator<Item = u32>) -> Option<Vec<u8>> {
    let mut encoder = HybridEncoder::new(bits);
    levels.for_each(|level| encoder.push(level));
    encoder.into_levels_v1()
}

/// Values per bit-packed group, as the format fixes it.
const GROUP: usize = 8;

/// Encodes values as they come, so that a column's levels are written in the same pass over
/// the rows as its values are read.
#[derive(Debug)]
pub(super) struct HybridEncoder {
    out: Vec<u8>,
    bits: u32,
    /// The group being filled, and how many of it.
    group: [u32; GROUP],
    filled: usize,
    /// Packed groups not written yet, and how many.
    literal: Vec<u8>,
    literal_groups: usize,
    /// Equal values not written yet: the value and how many.
    run: Option<(u32, usize)>,
}

impl HybridEncoder {
    pub(super) fn new(bits: u32) -> Self {
        debug_assert!(bits <= 32);
        HybridEncoder {
            out: Vec::new(),
            bits,
            group: [0; GROUP],
            filled: 0,
            literal: Vec::new(),
            literal_groups: 0,
            run: None,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, value: u32) {
        self.group[self.filled] = value;
        self.filled += 1;
        if self.filled == GROUP {
            self.take_group();
        }
    }

    /// What was pushed, as levels in a V1 data page ([`levels_v1`]).
    pub(super) fn into_levels_v1(self) -> Option<Vec<u8>> {
        let mut buffer = vec![0; 4];
        self.finish_into(&mut buffer);
        let length = u32::try_from(buffer.len() - 4).ok()?;
        buffer[..4].copy_from_slice(&length.to_le_bytes());
        Some(buffer)
    }

    /// Appends what was pushed to `out`.
    pub(super) fn finish_into(mut self, out: &mut Vec<u8>) {
        if self.filled > 0 {
            // A last group padded with zeros: a reader stops at the page's value count.
            self.group[self.filled..].fill(0);
            self.take_group();
        }
        self.end_run();
        self.write_literal();
        out.append(&mut self.out);
    }

    /// Takes the group, of which the first `filled` values are real.
    fn take_group(&mut self) {
        let (group, filled) = (self.group, std::mem::take(&mut self.filled));
        let first = group[0];
        let equal = group[..filled].iter().all(|value| *value == first);
        match self.run {
            Some((value, ref mut length)) if equal && value == first => *length += filled,
            _ if equal && filled == GROUP => {
                self.end_run();
                self.run = Some((first, filled));
            }
            _ => {
                self.end_run();
                self.pack(&group);
            }
        }
    }

    /// Writes the pending run, or packs it into the literal run when one group is all it is (a
    /// run-length run of eight costs more than the group packed).
    fn end_run(&mut self) {
        match self.run.take() {
            Some((value, GROUP)) => self.pack(&[value; GROUP]),
            Some((value, length)) => {
                self.write_literal();
                write_uleb128(&mut self.out, (length as u64) << 1);
                self.out.extend_from_slice(&value.to_le_bytes()[..self.bits.div_ceil(8) as usize]);
            }
            None => {}
        }
    }

    /// Appends a group to the literal run, `bits` bits a value from the lowest bit up.
    fn pack(&mut self, group: &[u32; GROUP]) {
        let mut pending: u64 = 0;
        let mut pending_bits = 0;
        for value in group {
            pending |= u64::from(*value) << pending_bits;
            pending_bits += self.bits;
            while pending_bits >= 8 {
                self.literal.push(pending as u8);
                pending >>= 8;
                pending_bits -= 8;
            }
        }
        self.literal_groups += 1;
    }

    fn write_literal(&mut self) {
        if self.literal_groups > 0 {
            write_uleb128(&mut self.out, ((self.literal_groups as u64) << 1) | 1);
            self.out.append(&mut self.literal);
            self.literal_groups = 0;
        }
    }
}

fn write_uleb128(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_parquet::parquet::encoding::hybrid_rle::HybridRleDecoder;
    use proptest::prelude::*;

    fn decoded(bytes: &[u8], bits: u32, count: usize) -> Vec<u32> {
        HybridRleDecoder::new(bytes, bits, count).collect().unwrap()
    }

    fn encoded(values: &[u32], bits: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_hybrid(&mut out, values.iter().copied(), bits);
        out
    }

    #[test]
    fn long_runs_are_run_length_encoded_and_short_ones_packed() {
        // 16k null rows: one run, header and value.
        assert_eq!(encoded(&[0; 16384], 1), vec![0x80, 0x80, 0x02, 0x00]);
        // One equal group between mixed ones stays in the literal run.
        let values: Vec<u32> = [[1, 0, 1, 0, 1, 0, 1, 0], [1; 8], [0, 1, 0, 1, 0, 1, 0, 1]].concat();
        assert_eq!(encoded(&values, 1), vec![(3 << 1) | 1, 0b0101_0101, 0xff, 0b1010_1010]);
        assert_eq!(decoded(&encoded(&values, 1), 1, values.len()), values);
        assert!(encoded(&[], 3).is_empty());
    }

    proptest! {
        #[test]
        fn polars_decodes_what_is_encoded(
            runs in prop::collection::vec((0u32..70_000, 1usize..40), 0..30),
            bits in 0u32..=17,
        ) {
            let mask = if bits == 0 { 0 } else { u32::MAX >> (32 - bits) };
            let values: Vec<u32> =
                runs.iter().flat_map(|(value, length)| std::iter::repeat_n(value & mask, *length)).collect();
            prop_assert_eq!(decoded(&encoded(&values, bits), bits, values.len()), values);
        }
    }
}
