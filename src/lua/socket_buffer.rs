//! The per-socket read buffer: bytes received on one socket and not yet read by
//! the owner service.
//!
//! # Who uses it
//! A [`Buffer`] belongs to one socket as seen by one service. Only that service's
//! worker touches it, one message at a time: the socket `Data` event handler
//! [`push`](Buffer::push)es the chunk the socket thread delivered, and the
//! `skynet.socket` read functions take bytes out. It is plain data (no locks, no
//! Lua, no sockets); the Lua layer turns a returned [`Bytes`] into a Lua string
//! only when a read returns, which is the one copy a read costs in the common case.
//!
//! # What each operation consumes
//! - [`push`](Buffer::push) appends a chunk without copying it; empty chunks are
//!   ignored.
//! - [`read_exact`](Buffer::read_exact)`(n)` consumes exactly `n` bytes, or nothing
//!   (and returns `None`) if fewer are buffered. `n = 0` returns an empty [`Bytes`].
//! - [`read_all`](Buffer::read_all) consumes everything.
//! - [`read_line`](Buffer::read_line)`(sep)` consumes the bytes before the first
//!   occurrence of `sep` and `sep` itself, and returns the bytes before it; if `sep`
//!   is not buffered it consumes nothing and returns `None`. The separator may be
//!   several bytes long and may span any number of chunk boundaries.
//! - [`find`](Buffer::find)`(sep)` is the check without the read: the length of the
//!   line `read_line` would return. It consumes nothing (it takes `&mut self` only
//!   to remember how far it searched, see below).
//!
//! **Empty separator.** The empty string occurs at offset 0 of any buffer, so
//! `find(b"")` is `Some(0)` and `read_line(b"")` returns an empty [`Bytes`] and
//! consumes nothing, even when the buffer is empty (skynet's `lua-socket.c` also
//! treats an empty separator as matching at once). This never panics, but a
//! caller looping on `read_line(b"")` would never make progress, so the Lua layer
//! should reject an empty separator with an error naming the function.
//!
//! # Zero-copy guarantees
//! - Pushed chunks are stored as they are ([`Bytes`] is reference counted).
//! - A read result that lies within one chunk is a [`Bytes::slice`] of that chunk
//!   (or the chunk itself when it is taken whole): no byte is copied.
//! - A result that spans chunks is copied exactly once, into a new [`BytesMut`]
//!   allocated with the exact capacity.
//! - A partly read front chunk is not copied: the buffer keeps a read offset into it.
//! - A chunk that has been fully consumed is dropped at once; the buffer never keeps
//!   it alive. (A result sliced from a chunk keeps that chunk's allocation alive for
//!   as long as the caller holds the result.)
//! - When the buffer becomes empty, a chunk queue that grew beyond
//!   [`RETAINED_SLOTS`] slots is freed, so an idle socket costs only the
//!   [`Buffer`] itself (plus the separator search state if `read_line` was used).
//!
//! # Complexity
//! With `k` the number of chunks a result touches and `n` its length:
//! - `push`, `len`, `is_empty`: O(1) (amortized for `push`).
//! - `read_exact`, `read_all`: O(k) when the result is within one chunk, O(k + n)
//!   when it spans chunks (the one copy).
//! - `find`, `read_line`: the search is Knuth–Morris–Pratt over the chunk queue,
//!   with a fast skip to the separator's first byte when nothing is partly
//!   matched, so it examines each buffered byte a bounded number of times (at most
//!   twice, counting fallbacks) whatever the separator and the data.
//!   A failed search remembers its separator, where it stopped and the KMP state
//!   there; the next search for the same separator resumes from that point, so
//!   calling `read_line` after every `push` while a long line arrives in many small
//!   chunks costs O(total bytes) overall, not O(bytes²). A successful `find`
//!   remembers the match position, so `find` followed by `read_line` does not
//!   search twice. Consuming bytes keeps the memory valid unless it cuts into a
//!   partial match, in which case fewer than `sep.len()` bytes are searched again.
//!   Searching for a different separator starts over from the front (and costs
//!   O(`sep.len()`) to build the KMP table). Extracting the line is then as for
//!   `read_exact`.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// A chunk queue with more slots than this is freed when the buffer becomes empty.
///
/// Four slots is the smallest allocation a `VecDeque<Bytes>` makes, so a socket
/// whose reads keep up with its data reuses one small allocation, while a queue
/// that once held many chunks does not keep its memory while the socket is idle.
pub(crate) const RETAINED_SLOTS: usize = 4;

/// The bytes received on one socket and not yet read (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// Chunks as delivered, oldest first; never empty chunks.
    chunks: VecDeque<Bytes>,
    /// Read offset into the front chunk; always less than its length.
    head: usize,
    /// Bytes buffered: the sum of chunk lengths minus `head`.
    len: usize,
    /// Bytes consumed since the buffer was created: the stream position of `head`.
    consumed: u64,
    /// Chunks dropped since the buffer was created: the stream index of the front
    /// chunk.
    popped: u64,
    /// Separator search state, allocated by the first search.
    finder: Option<Box<Finder>>,
    /// Bytes examined by separator searches, for the tests that bound the work.
    #[cfg(test)]
    steps: u64,
}

/// The state of the last separator search.
#[derive(Debug)]
struct Finder {
    /// The separator searched for.
    sep: Vec<u8>,
    /// The KMP failure table: `fail[i]` is the length of the longest proper prefix
    /// of `sep[..=i]` that is also a suffix of it. Empty for one-byte separators,
    /// which never need it.
    fail: Vec<usize>,
    /// Where the next search for `sep` may resume, if anywhere.
    resume: Option<Resume>,
}

/// A point where a search for a separator stopped.
///
/// No match of the separator starts before stream position `pos - matched`, and
/// the `matched` bytes before `pos` equal the separator's first `matched` bytes.
/// The position is also stored as (stream chunk index, offset in that chunk):
/// chunks never change once pushed, so the location stays valid for as long as
/// the position is still buffered. A position at the end of the buffer is stored
/// as offset 0 of the next chunk to be pushed.
#[derive(Debug, Clone, Copy)]
struct Resume {
    pos: u64,
    chunk: u64,
    offset: usize,
    matched: usize,
}

impl Finder {
    fn new(sep: &[u8]) -> Self {
        let mut finder = Finder {
            sep: Vec::new(),
            fail: Vec::new(),
            resume: None,
        };
        finder.reset(sep);
        finder
    }

    /// Prepares a search for `sep`, forgetting any previous one.
    fn reset(&mut self, sep: &[u8]) {
        self.sep.clear();
        self.sep.extend_from_slice(sep);
        self.fail.clear();
        if sep.len() > 1 {
            self.fail.resize(sep.len(), 0);
            let mut k = 0;
            for i in 1..sep.len() {
                while k > 0 && sep[i] != sep[k] {
                    k = self.fail[k - 1];
                }
                if sep[i] == sep[k] {
                    k += 1;
                }
                self.fail[i] = k;
            }
        }
        self.resume = None;
    }
}

impl Buffer {
    /// An empty buffer. Allocates nothing.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk received from the socket, without copying it. Empty chunks
    /// are ignored.
    pub(crate) fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// The number of bytes buffered and not yet read.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are buffered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads exactly `n` bytes, or returns `None` and consumes nothing if fewer
    /// are buffered. `n = 0` gives an empty [`Bytes`].
    pub(crate) fn read_exact(&mut self, n: usize) -> Option<Bytes> {
        if n > self.len {
            return None;
        }
        Some(self.take(n))
    }

    /// Reads everything buffered (an empty [`Bytes`] if nothing is).
    pub(crate) fn read_all(&mut self) -> Bytes {
        self.take(self.len)
    }

    /// Reads a line: returns the bytes before the first occurrence of `sep` and
    /// consumes them and the separator. Returns `None` and consumes nothing if
    /// `sep` is not buffered. An empty `sep` matches at once (see the module docs).
    pub(crate) fn read_line(&mut self, sep: &[u8]) -> Option<Bytes> {
        let line_len = self.find(sep)?;
        let line = self.take(line_len);
        self.skip(sep.len());
        Some(line)
    }

    /// The number of bytes before the first occurrence of `sep`, or `None` if `sep`
    /// is not buffered. Consumes nothing; remembers how far it searched so that
    /// the next `find` or `read_line` with the same separator does not search the
    /// same bytes again. An empty `sep` gives `Some(0)`.
    pub(crate) fn find(&mut self, sep: &[u8]) -> Option<usize> {
        if sep.is_empty() {
            return Some(0);
        }
        if sep.len() > self.len {
            return None;
        }
        let finder = match &mut self.finder {
            Some(finder) => {
                if finder.sep != sep {
                    finder.reset(sep);
                }
                finder
            }
            None => self.finder.insert(Box::new(Finder::new(sep))),
        };
        let m = sep.len();
        // Where to start: the remembered point if it is still valid, else the head.
        let start = finder
            .resume
            .filter(|r| r.pos - r.matched as u64 >= self.consumed);
        let (mut index, mut offset, mut matched, mut pos) = match start {
            Some(r) => ((r.chunk - self.popped) as usize, r.offset, r.matched, r.pos),
            None => (0, self.head, 0, self.consumed),
        };
        #[cfg(test)]
        let mut steps = 0u64;
        let mut found = None;
        'chunks: while let Some(chunk) = self.chunks.get(index) {
            let bytes = &chunk[offset..];
            let mut i = 0;
            while i < bytes.len() {
                if matched == 0 {
                    // Nothing partly matched: skip to the separator's first byte.
                    match bytes[i..].iter().position(|&b| b == sep[0]) {
                        Some(p) => {
                            #[cfg(test)]
                            {
                                steps += p as u64 + 1;
                            }
                            i += p + 1;
                            matched = 1;
                        }
                        None => {
                            #[cfg(test)]
                            {
                                steps += (bytes.len() - i) as u64;
                            }
                            i = bytes.len();
                        }
                    }
                } else {
                    let b = bytes[i];
                    #[cfg(test)]
                    {
                        steps += 1;
                    }
                    while matched > 0 && b != sep[matched] {
                        matched = finder.fail[matched - 1];
                        #[cfg(test)]
                        {
                            steps += 1;
                        }
                    }
                    if b == sep[matched] {
                        matched += 1;
                    }
                    i += 1;
                }
                if matched == m {
                    found = Some((index, offset + i));
                    pos += i as u64;
                    break 'chunks;
                }
            }
            pos += bytes.len() as u64;
            index += 1;
            offset = 0;
        }
        #[cfg(test)]
        {
            self.steps += steps;
        }
        match found {
            Some((index, end)) => {
                // Remember the match start, so that a repeated search costs O(m).
                let (start_index, start_offset) = step_back(&self.chunks, index, end, m);
                let start = pos - m as u64;
                finder.resume = Some(Resume {
                    pos: start,
                    chunk: self.popped + start_index as u64,
                    offset: start_offset,
                    matched: 0,
                });
                Some((start - self.consumed) as usize)
            }
            None => {
                finder.resume = Some(Resume {
                    pos,
                    chunk: self.popped + self.chunks.len() as u64,
                    offset: 0,
                    matched,
                });
                None
            }
        }
    }

    /// Consumes and returns the first `n` bytes; `n <= self.len`.
    fn take(&mut self, n: usize) -> Bytes {
        if n == 0 {
            return Bytes::new();
        }
        if let Some(front) = self.chunks.front() {
            if n <= front.len() - self.head {
                let out = if self.head == 0 && n == front.len() {
                    front.clone()
                } else {
                    front.slice(self.head..self.head + n)
                };
                self.consume_front(n);
                return out;
            }
        }
        let mut out = BytesMut::with_capacity(n);
        let mut need = n;
        while need > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let step = need.min(front.len() - self.head);
            out.extend_from_slice(&front[self.head..self.head + step]);
            self.consume_front(step);
            need -= step;
        }
        out.freeze()
    }

    /// Consumes the first `n` bytes without returning them; `n <= self.len`.
    fn skip(&mut self, n: usize) {
        let mut need = n;
        while need > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let step = need.min(front.len() - self.head);
            self.consume_front(step);
            need -= step;
        }
    }

    /// Consumes `n` bytes of the front chunk (`n` at most what is left of it),
    /// dropping the chunk when it is used up.
    fn consume_front(&mut self, n: usize) {
        let Some(front) = self.chunks.front() else {
            return;
        };
        let front_len = front.len();
        self.head += n;
        self.len -= n;
        self.consumed += n as u64;
        if self.head >= front_len {
            self.chunks.pop_front();
            self.popped += 1;
            self.head = 0;
            if self.chunks.is_empty() && self.chunks.capacity() > RETAINED_SLOTS {
                self.chunks = VecDeque::new();
            }
        }
    }
}

/// The location `back` bytes before offset `offset` of chunk `index`, as
/// (chunk index, offset), normalized so the offset is inside the chunk. The
/// caller guarantees the location is not before the head.
fn step_back(
    chunks: &VecDeque<Bytes>,
    mut index: usize,
    mut offset: usize,
    mut back: usize,
) -> (usize, usize) {
    while back > offset && index > 0 {
        back -= offset;
        index -= 1;
        offset = chunks.get(index).map_or(0, Bytes::len);
    }
    (index, offset.saturating_sub(back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buffer_of(chunks: &[&'static [u8]]) -> Buffer {
        let mut buf = Buffer::new();
        for chunk in chunks {
            buf.push(Bytes::from_static(chunk));
        }
        buf
    }

    /// Whether `inner` is non-empty and lies, by address, inside `outer`.
    fn points_into(inner: &Bytes, outer: &Bytes) -> bool {
        let (start, end) = (
            outer.as_ptr() as usize,
            outer.as_ptr() as usize + outer.len(),
        );
        let p = inner.as_ptr() as usize;
        !inner.is_empty() && p >= start && p + inner.len() <= end
    }

    #[test]
    fn new_buffer_is_empty() {
        let mut buf = Buffer::new();
        assert!(buf.is_empty());
        assert_eq!(buf.len(), 0);
        assert_eq!(buf.read_all(), Bytes::new());
        assert_eq!(buf.read_exact(0), Some(Bytes::new()));
        assert_eq!(buf.read_exact(1), None);
        assert_eq!(buf.read_line(b"\n"), None);
        assert_eq!(buf.find(b"\n"), None);
    }

    #[test]
    fn push_ignores_empty_chunks() {
        let mut buf = Buffer::new();
        buf.push(Bytes::new());
        assert!(buf.is_empty());
        assert_eq!(buf.chunks.len(), 0);
        buf.push(Bytes::from_static(b"ab"));
        buf.push(Bytes::new());
        buf.push(Bytes::from_static(b"c"));
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.chunks.len(), 2);
    }

    #[test]
    fn len_tracks_pushes_and_reads() {
        let mut buf = buffer_of(&[b"hello", b" ", b"world"]);
        assert_eq!(buf.len(), 11);
        buf.read_exact(3).unwrap();
        assert_eq!(buf.len(), 8);
        buf.read_line(b" ").unwrap();
        assert_eq!(buf.len(), 5);
        buf.read_all();
        assert_eq!(buf.len(), 0);
        assert!(buf.is_empty());
    }

    #[test]
    fn read_exact_within_one_chunk() {
        let mut buf = buffer_of(&[b"abcdef"]);
        assert_eq!(buf.read_exact(2).unwrap(), "ab");
        assert_eq!(buf.read_exact(3).unwrap(), "cde");
        assert_eq!(buf.read_exact(1).unwrap(), "f");
        assert!(buf.is_empty());
    }

    #[test]
    fn read_exact_more_than_buffered_consumes_nothing() {
        let mut buf = buffer_of(&[b"abc", b"de"]);
        buf.read_exact(1).unwrap();
        assert_eq!(buf.read_exact(5), None);
        assert_eq!(buf.len(), 4);
        assert_eq!(buf.read_exact(4).unwrap(), "bcde");
    }

    #[test]
    fn read_exact_zero_consumes_nothing() {
        let mut buf = buffer_of(&[b"abc"]);
        assert_eq!(buf.read_exact(0).unwrap(), "");
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn read_exact_ending_on_chunk_boundary() {
        let mut buf = buffer_of(&[b"abc", b"def", b"gh"]);
        assert_eq!(buf.read_exact(3).unwrap(), "abc");
        assert_eq!(buf.chunks.len(), 2);
        assert_eq!(buf.read_exact(3).unwrap(), "def");
        assert_eq!(buf.chunks.len(), 1);
        assert_eq!(buf.read_exact(2).unwrap(), "gh");
        assert_eq!(buf.chunks.len(), 0);
    }

    #[test]
    fn read_exact_spanning_chunks() {
        let mut buf = buffer_of(&[b"ab", b"cd", b"ef", b"gh"]);
        assert_eq!(buf.read_exact(1).unwrap(), "a");
        assert_eq!(buf.read_exact(6).unwrap(), "bcdefg");
        assert_eq!(buf.len(), 1);
        assert_eq!(buf.read_exact(1).unwrap(), "h");
    }

    #[test]
    fn read_exact_from_many_one_byte_chunks() {
        let mut buf = Buffer::new();
        for b in 0..=255u8 {
            buf.push(Bytes::from(vec![b]));
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(buf.read_exact(100).unwrap(), all[..100]);
        assert_eq!(buf.read_exact(156).unwrap(), all[100..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn read_all_returns_everything() {
        let mut buf = buffer_of(&[b"abc", b"de", b"f"]);
        buf.read_exact(1).unwrap();
        assert_eq!(buf.read_all(), "bcdef");
        assert!(buf.is_empty());
        assert_eq!(buf.read_all(), "");
    }

    #[test]
    fn read_line_within_one_chunk() {
        let mut buf = buffer_of(&[b"one\ntwo\nrest"]);
        assert_eq!(buf.read_line(b"\n").unwrap(), "one");
        assert_eq!(buf.read_line(b"\n").unwrap(), "two");
        assert_eq!(buf.read_line(b"\n"), None);
        assert_eq!(buf.read_all(), "rest");
    }

    #[test]
    fn read_line_without_separator_consumes_nothing() {
        let mut buf = buffer_of(&[b"abc", b"\r"]);
        assert_eq!(buf.read_line(b"\r\n"), None);
        assert_eq!(buf.len(), 4);
        buf.push(Bytes::from_static(b"\nx"));
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "abc");
        assert_eq!(buf.read_all(), "x");
    }

    #[test]
    fn separator_split_across_two_chunks() {
        let mut buf = buffer_of(&[b"GET /\r", b"\nHost"]);
        assert_eq!(buf.find(b"\r\n"), Some(5));
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "GET /");
        assert_eq!(buf.read_all(), "Host");
    }

    #[test]
    fn separator_split_across_three_chunks() {
        let mut buf = buffer_of(&[b"line-", b"-", b"-end", b"after"]);
        assert_eq!(buf.read_line(b"---").unwrap(), "line");
        assert_eq!(buf.read_all(), "endafter");

        let mut buf = buffer_of(&[b"ab<", b"=", b">cd"]);
        assert_eq!(buf.read_line(b"<=>").unwrap(), "ab");
        assert_eq!(buf.read_all(), "cd");
    }

    #[test]
    fn separator_at_the_very_start() {
        let mut buf = buffer_of(&[b"\r\nabc"]);
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "");
        assert_eq!(buf.read_all(), "abc");

        let mut buf = buffer_of(&[b"\r", b"\n", b"abc"]);
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "");
        assert_eq!(buf.read_all(), "abc");
    }

    #[test]
    fn separator_at_the_very_end() {
        let mut buf = buffer_of(&[b"abc\r\n"]);
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "abc");
        assert!(buf.is_empty());
        assert_eq!(buf.chunks.len(), 0);

        let mut buf = buffer_of(&[b"ab", b"c\r", b"\n"]);
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "abc");
        assert!(buf.is_empty());
        assert_eq!(buf.chunks.len(), 0);
    }

    #[test]
    fn separator_is_the_whole_buffer() {
        let mut buf = buffer_of(&[b"\n"]);
        assert_eq!(buf.read_line(b"\n").unwrap(), "");
        assert!(buf.is_empty());
    }

    #[test]
    fn read_line_from_many_one_byte_chunks() {
        let mut buf = Buffer::new();
        for &b in b"hello\r\nworld\r\n" {
            buf.push(Bytes::from(vec![b]));
        }
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "hello");
        assert_eq!(buf.read_line(b"\r\n").unwrap(), "world");
        assert!(buf.is_empty());
    }

    #[test]
    fn separator_with_self_overlap_is_found() {
        // KMP fallbacks: "aab" inside "aaab", "abab" inside "abaabab".
        let mut buf = buffer_of(&[b"aa", b"a", b"bz"]);
        assert_eq!(buf.read_line(b"aab").unwrap(), "a");
        assert_eq!(buf.read_all(), "z");

        let mut buf = buffer_of(&[b"abaab", b"ab", b"!"]);
        assert_eq!(buf.find(b"abab"), Some(3));
        assert_eq!(buf.read_line(b"abab").unwrap(), "aba");
        assert_eq!(buf.read_all(), "!");
    }

    #[test]
    fn partial_match_resumed_after_push() {
        let mut buf = buffer_of(&[b"xaba"]);
        assert_eq!(buf.read_line(b"abab"), None);
        buf.push(Bytes::from_static(b"b"));
        assert_eq!(buf.read_line(b"abab").unwrap(), "x");
        assert!(buf.is_empty());
    }

    #[test]
    fn consuming_into_a_partial_match_restarts_the_search() {
        // The failed search ends with "ab" partly matching "abc"; reading "xa"
        // cuts that partial match, so the next search must not trust it.
        let mut buf = buffer_of(&[b"xab"]);
        assert_eq!(buf.find(b"abc"), None);
        assert_eq!(buf.read_exact(2).unwrap(), "xa");
        buf.push(Bytes::from_static(b"c"));
        assert_eq!(buf.find(b"abc"), None);
        buf.push(Bytes::from_static(b"abc"));
        assert_eq!(buf.read_line(b"abc").unwrap(), "bc");
        assert!(buf.is_empty());
    }

    #[test]
    fn consuming_past_the_search_point_restarts_at_the_head() {
        let mut buf = buffer_of(&[b"abc"]);
        assert_eq!(buf.find(b"\n"), None);
        buf.push(Bytes::from_static(b"def"));
        assert_eq!(buf.read_exact(5).unwrap(), "abcde");
        buf.push(Bytes::from_static(b"\n"));
        assert_eq!(buf.read_line(b"\n").unwrap(), "f");
    }

    #[test]
    fn changing_separator_searches_again() {
        let mut buf = buffer_of(&[b"a;b\nc"]);
        assert_eq!(buf.find(b"\r\n"), None);
        assert_eq!(buf.read_line(b"\n").unwrap(), "a;b");
        assert_eq!(buf.find(b";"), None);
        buf.push(Bytes::from_static(b";"));
        assert_eq!(buf.read_line(b";").unwrap(), "c");
    }

    #[test]
    fn find_then_read_line_agree_and_find_consumes_nothing() {
        let mut buf = buffer_of(&[b"ab", b"c\n", b"d\n"]);
        assert_eq!(buf.find(b"\n"), Some(3));
        assert_eq!(buf.find(b"\n"), Some(3));
        assert_eq!(buf.len(), 6);
        assert_eq!(buf.read_line(b"\n").unwrap(), "abc");
        assert_eq!(buf.find(b"\n"), Some(1));
        assert_eq!(buf.read_line(b"\n").unwrap(), "d");
    }

    #[test]
    fn separator_longer_than_buffer_is_not_found() {
        let mut buf = buffer_of(&[b"ab"]);
        assert_eq!(buf.find(b"abc"), None);
        assert_eq!(buf.read_line(b"abc"), None);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn empty_separator_matches_at_once_and_consumes_nothing() {
        let mut buf = Buffer::new();
        assert_eq!(buf.find(b""), Some(0));
        assert_eq!(buf.read_line(b"").unwrap(), "");
        buf.push(Bytes::from_static(b"abc"));
        assert_eq!(buf.find(b""), Some(0));
        assert_eq!(buf.read_line(b"").unwrap(), "");
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn read_within_one_chunk_is_zero_copy() {
        let chunk = Bytes::from(b"0123456789".to_vec());
        let mut buf = Buffer::new();
        buf.push(chunk.clone());
        buf.push(Bytes::from(b"abc\n".to_vec()));

        let a = buf.read_exact(3).unwrap();
        assert!(points_into(&a, &chunk));
        assert_eq!(a.as_ptr(), chunk.as_ptr());
        let b = buf.read_exact(4).unwrap();
        assert!(points_into(&b, &chunk));
        assert_eq!(b.as_ptr() as usize, chunk.as_ptr() as usize + 3);

        // Spans chunks: a fresh copy of exactly the right size.
        let c = buf.read_exact(5).unwrap();
        assert_eq!(c, "789ab");
        assert!(!points_into(&c, &chunk));
    }

    #[test]
    fn whole_chunk_read_is_the_chunk_itself() {
        let chunk = Bytes::from(b"hello".to_vec());
        let mut buf = Buffer::new();
        buf.push(chunk.clone());
        let out = buf.read_exact(5).unwrap();
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn read_line_and_read_all_within_one_chunk_are_zero_copy() {
        let first = Bytes::from(b"abc".to_vec());
        let second = Bytes::from(b"def\r\nghi".to_vec());
        let mut buf = Buffer::new();
        buf.push(first.clone());
        buf.push(second.clone());
        assert_eq!(buf.read_exact(3).unwrap().as_ptr(), first.as_ptr());
        let line = buf.read_line(b"\r\n").unwrap();
        assert_eq!(line, "def");
        assert!(points_into(&line, &second));
        let rest = buf.read_all();
        assert_eq!(rest, "ghi");
        assert!(points_into(&rest, &second));
    }

    #[test]
    fn fully_consumed_chunks_are_released() {
        let first = Bytes::from(b"abc".to_vec());
        let second = Bytes::from(b"def".to_vec());
        let mut buf = Buffer::new();
        buf.push(first.clone());
        buf.push(second.clone());
        assert!(!first.is_unique());
        // Consume the first chunk and part of the second; drop the result at once.
        drop(buf.read_exact(4).unwrap());
        assert!(first.is_unique(), "the buffer still holds a consumed chunk");
        assert!(!second.is_unique());
        assert_eq!(buf.chunks.len(), 1);
        drop(buf.read_line(b"f").unwrap());
        assert!(
            second.is_unique(),
            "the buffer still holds a consumed chunk"
        );
        assert_eq!(buf.chunks.len(), 0);
    }

    #[test]
    fn large_chunk_queue_is_freed_when_buffer_empties() {
        let mut buf = Buffer::new();
        for _ in 0..1000 {
            buf.push(Bytes::from_static(b"x"));
        }
        assert!(buf.chunks.capacity() >= 1000);
        buf.read_all();
        assert!(buf.chunks.capacity() <= RETAINED_SLOTS);

        // A small queue is kept for reuse.
        buf.push(Bytes::from_static(b"x"));
        let capacity = buf.chunks.capacity();
        buf.read_all();
        assert_eq!(buf.chunks.capacity(), capacity);
    }

    /// Pushes `n` one-byte chunks of `filler`, attempting `read_line(sep)` after
    /// each (and reading one byte every `read_every` pushes, if set), then the
    /// separator; returns the search steps.
    fn steps_for_slow_line(
        n: usize,
        filler: u8,
        sep: &'static [u8],
        read_every: Option<usize>,
    ) -> u64 {
        let mut buf = Buffer::new();
        let mut expected = n;
        for i in 0..n {
            buf.push(Bytes::from(vec![filler]));
            assert_eq!(buf.read_line(sep), None);
            if read_every.is_some_and(|k| i % k == 0) {
                buf.read_exact(1).unwrap();
                expected -= 1;
            }
        }
        for &b in sep {
            buf.push(Bytes::from(vec![b]));
        }
        let line = buf.read_line(sep).unwrap();
        assert_eq!(line.len(), expected);
        assert!(line.iter().all(|&b| b == filler));
        assert!(buf.is_empty());
        buf.steps
    }

    #[test]
    fn line_in_many_tiny_chunks_costs_linear_work() {
        const N: usize = 100_000;
        // Without the remembered search point this would be about N²/2 = 5e9 steps.
        let bound = 4 * (N as u64 + 10);
        let steps = steps_for_slow_line(N, b'x', b"\n", None);
        assert!(
            steps <= bound,
            "{steps} steps for a {N}-byte line (bound {bound})"
        );
        let steps = steps_for_slow_line(N, b'x', b"\r\n", None);
        assert!(
            steps <= bound,
            "{steps} steps for a {N}-byte line (bound {bound})"
        );
        // A separator whose first bytes match every byte of the data: every
        // byte is a partial match and every search ends in a KMP fallback.
        let steps = steps_for_slow_line(N, b'a', b"aaab", None);
        assert!(
            steps <= bound,
            "{steps} steps for a {N}-byte line (bound {bound})"
        );
        // Interleaved reads that cut into the partial match.
        let steps = steps_for_slow_line(N, b'a', b"aaab", Some(3));
        assert!(
            steps <= 2 * bound,
            "{steps} steps for a {N}-byte line (bound {})",
            2 * bound
        );
    }

    #[test]
    fn repeated_find_after_a_match_does_not_search_again() {
        let mut buf = Buffer::new();
        buf.push(Bytes::from(vec![b'x'; 10_000]));
        buf.push(Bytes::from_static(b"\r\n"));
        assert_eq!(buf.find(b"\r\n"), Some(10_000));
        let first = buf.steps;
        for _ in 0..100 {
            assert_eq!(buf.find(b"\r\n"), Some(10_000));
        }
        assert!(buf.steps - first <= 100 * 4, "{} steps", buf.steps - first);
        assert_eq!(buf.read_line(b"\r\n").unwrap().len(), 10_000);
    }

    // ---- Property test against a reference model -------------------------------

    const SEPS: &[&[u8]] = &[
        b"\n", b"\r\n", b"ab", b"aab", b"abab", b"aaab", b"", b"zzzz",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Push(Vec<u8>),
        ReadExact(usize),
        ReadAll,
        ReadLine(usize),
        Find(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let byte = prop::sample::select(vec![b'a', b'b', b'\r', b'\n', b'z']);
        prop_oneof![
            6 => prop::collection::vec(byte, 0..12).prop_map(Op::Push),
            2 => (0usize..30).prop_map(Op::ReadExact),
            1 => Just(Op::ReadAll),
            3 => (0..SEPS.len()).prop_map(Op::ReadLine),
            2 => (0..SEPS.len()).prop_map(Op::Find),
        ]
    }

    /// The reference: each unread byte with the chunk it came from and its offset.
    #[derive(Default)]
    struct Model {
        bytes: Vec<(u8, usize, usize)>,
        chunks: Vec<Bytes>,
    }

    impl Model {
        fn find(&self, sep: &[u8]) -> Option<usize> {
            if sep.is_empty() {
                return Some(0);
            }
            let data: Vec<u8> = self.bytes.iter().map(|b| b.0).collect();
            data.windows(sep.len()).position(|w| w == sep)
        }

        /// Consumes `n` bytes and checks `got` against them, including that a
        /// result from a single chunk points into that chunk.
        fn check_take(&mut self, n: usize, got: &Bytes) -> Result<(), TestCaseError> {
            let taken: Vec<_> = self.bytes.drain(..n).collect();
            let want: Vec<u8> = taken.iter().map(|b| b.0).collect();
            prop_assert_eq!(&got[..], &want[..]);
            if let (Some(first), Some(last)) = (taken.first(), taken.last()) {
                if first.1 == last.1 {
                    let chunk = &self.chunks[first.1];
                    prop_assert_eq!(
                        got.as_ptr() as usize,
                        chunk.as_ptr() as usize + first.2,
                        "a read within one chunk was copied"
                    );
                }
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matches_reference_model(ops in prop::collection::vec(op(), 0..80)) {
            let mut buf = Buffer::new();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Push(data) => {
                        let chunk = Bytes::from(data);
                        if !chunk.is_empty() {
                            let id = model.chunks.len();
                            model.bytes.extend(chunk.iter().enumerate().map(|(i, &b)| (b, id, i)));
                            model.chunks.push(chunk.clone());
                        }
                        buf.push(chunk);
                    }
                    Op::ReadExact(n) => {
                        let got = buf.read_exact(n);
                        if n > model.bytes.len() {
                            prop_assert_eq!(got, None);
                        } else {
                            prop_assert!(got.is_some());
                            model.check_take(n, got.as_ref().unwrap())?;
                        }
                    }
                    Op::ReadAll => {
                        let got = buf.read_all();
                        model.check_take(model.bytes.len(), &got)?;
                    }
                    Op::ReadLine(s) => {
                        let sep = SEPS[s];
                        let got = buf.read_line(sep);
                        match model.find(sep) {
                            None => prop_assert_eq!(got, None),
                            Some(at) => {
                                prop_assert!(got.is_some());
                                model.check_take(at, got.as_ref().unwrap())?;
                                model.bytes.drain(..sep.len());
                            }
                        }
                    }
                    Op::Find(s) => {
                        let sep = SEPS[s];
                        prop_assert_eq!(buf.find(sep), model.find(sep));
                    }
                }
                prop_assert_eq!(buf.len(), model.bytes.len());
                prop_assert_eq!(buf.is_empty(), model.bytes.is_empty());
                // No fully consumed chunk is kept.
                let live_chunks = model.bytes.first().map_or(0, |first| {
                    model.chunks.len() - first.1
                });
                prop_assert_eq!(buf.chunks.len(), live_chunks);
            }
        }
    }
}
