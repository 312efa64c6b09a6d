//! Bytes carried in message words: eight to a word, little-endian (byte `i` of the text
//! is bits `8 * (i % 8)` up of word `i / 8`), the last word padded with zeros. A message
//! says how many bytes it carries (`n`) next to the words; the receiver checks `n`
//! against the words that actually came before it reads a byte.

/// Words needed for `n` bytes.
pub const fn words_for(n: usize) -> usize {
    n.div_ceil(8)
}

/// The word holding `chunk` (at most 8 bytes; bytes beyond the eighth are ignored).
pub fn pack_word(chunk: &[u8]) -> u64 {
    chunk
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |w, (i, &b)| w | (b as u64) << (8 * i))
}

/// Packs as many bytes of `bytes` as `out` has room for into `out`; returns how many
/// bytes that is (all of them if `out` has [`words_for`]`(bytes.len())` words or more).
pub fn pack(bytes: &[u8], out: &mut [u64]) -> usize {
    let mut packed = 0;
    for (w, chunk) in out.iter_mut().zip(bytes.chunks(8)) {
        *w = pack_word(chunk);
        packed += chunk.len();
    }
    packed
}

/// The count `n` names more bytes than the words that came can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong;

/// The `n` bytes carried by `words` words, read one at a time through `word(i)`
/// (`i < words`); [`TooLong`] if `n` exceeds `8 * words`. Words past the last byte are
/// never read, and nothing is read before the check.
pub fn unpack<F: Fn(usize) -> u64>(n: u64, words: usize, word: F) -> Result<Unpacked<F>, TooLong> {
    let room = (words as u64).saturating_mul(8);
    if n > room {
        return Err(TooLong);
    }
    Ok(Unpacked {
        word,
        len: n as usize,
        at: 0,
        current: 0,
    })
}

/// The bytes of a message, in order (see [`unpack`]).
pub struct Unpacked<F> {
    word: F,
    len: usize,
    at: usize,
    current: u64,
}

impl<F: Fn(usize) -> u64> Iterator for Unpacked<F> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.at == self.len {
            return None;
        }
        if self.at.is_multiple_of(8) {
            self.current = (self.word)(self.at / 8);
        }
        let b = (self.current >> (8 * (self.at % 8))) as u8;
        self.at += 1;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.at;
        (left, Some(left))
    }
}

impl<F: Fn(usize) -> u64> ExactSizeIterator for Unpacked<F> {}

/// Copies the `n` bytes carried by `words` into `out`, as far as `out` reaches; returns
/// the number copied, or [`TooLong`] if `n` exceeds what `words` can hold.
pub fn unpack_into(n: u64, words: &[u64], out: &mut [u8]) -> Result<usize, TooLong> {
    let bytes = unpack(n, words.len(), |i| words[i])?;
    let mut copied = 0;
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests;
