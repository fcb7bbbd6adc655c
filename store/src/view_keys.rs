//! Keys of a text column's rows from its string views ([`ViewKeys`]): the block writer's
//! dictionary pages and the service graph's interned columns both give each distinct value of
//! a column a dense key.
//!
//! Within one array, equal views hold equal strings (a short string lies in its view; a long
//! one points at bytes the array holds), so a row's view is first looked up in a small
//! direct-mapped cache, [`VIEW_SLOTS`] entries by a hash of the view: most rows cost one
//! multiply and one 16-byte compare, and only a miss looks the string itself up. Columns of a
//! window or a row group hold a few dozen distinct values each.

use polars_arrow::array::View;

/// Entries of the cache.
pub const VIEW_SLOTS: usize = 64;

/// The last key seen for each slot of views, for one array.
#[derive(Debug, Clone)]
pub struct ViewKeys {
    slots: [Option<(u128, u32)>; VIEW_SLOTS],
}

impl Default for ViewKeys {
    fn default() -> Self {
        ViewKeys { slots: [None; VIEW_SLOTS] }
    }
}

impl ViewKeys {
    /// The key of the row whose view is `view`: from the cache, or from `look_up` (which hashes
    /// the string) when the slot holds another view. Keep one `ViewKeys` per array: views of
    /// different arrays may point at different bytes.
    #[inline]
    pub fn key(&mut self, view: &View, look_up: impl FnOnce() -> u32) -> u32 {
        self.key_of(view.as_u128(), look_up)
    }

    /// [`ViewKeys::key`] of a string not in an array: its view is its bytes when short, as in
    /// an array, and its address and length when long (equal addresses, equal bytes; equal
    /// strings at different addresses are looked up, as in an array). Keep one `ViewKeys` per
    /// set of strings that live as long as it.
    #[inline]
    pub fn text_key(&mut self, text: &str, look_up: impl FnOnce() -> u32) -> u32 {
        let view = if text.len() <= View::MAX_INLINE_SIZE as usize {
            View::new_inline(text.as_bytes()).as_u128()
        } else {
            // The low 32 bits, the length, are above the inline limit: no short string's view.
            ((text.as_ptr() as u128) << 64) | text.len() as u128
        };
        self.key_of(view, look_up)
    }

    #[inline]
    fn key_of(&mut self, view: u128, look_up: impl FnOnce() -> u32) -> u32 {
        let slot = &mut self.slots[view_slot(view)];
        match *slot {
            Some((known, key)) if known == view => key,
            _ => {
                let key = look_up();
                *slot = Some((view, key));
                key
            }
        }
    }
}

/// A view's slot: the top bits of a multiplicative hash.
fn view_slot(view: u128) -> usize {
    let folded = (view as u64) ^ ((view >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - VIEW_SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_arrow::array::Utf8ViewArray;

    #[test]
    fn a_view_met_again_takes_its_key_from_the_cache() {
        // Short strings lie in their views: equal strings, equal views. Two copies of a long
        // one lie at different offsets, so its second copy is looked up, to the same key.
        let long = "a value longer than the twelve bytes a view holds inline";
        let texts = Utf8ViewArray::from_slice_values(["web", long, "db", "web", long, "db"]);
        let (mut keys, mut looked_up, mut distinct) = (ViewKeys::default(), Vec::new(), Vec::<&str>::new());
        let found: Vec<u32> = (0..texts.len())
            .map(|row| {
                keys.key(&texts.views()[row], || {
                    looked_up.push(row);
                    let text = texts.value(row);
                    match distinct.iter().position(|known| *known == text) {
                        Some(key) => key as u32,
                        None => {
                            distinct.push(text);
                            distinct.len() as u32 - 1
                        }
                    }
                })
            })
            .collect();
        assert_eq!(found, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(looked_up, vec![0, 1, 2, 4], "short strings met again are not looked up");
    }
}
