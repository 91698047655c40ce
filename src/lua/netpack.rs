//! `skynet.netpack`: 2-byte big-endian length framing for gate-style services,
//! with skynet's API (`require "skynet.netpack"`).
//!
//! A frame on the wire is a 2-byte big-endian length `n` followed by `n` bytes
//! (0 to 65535). A gate-style service registers its own `socket` protocol whose
//! unpack is `netpack.filter(queue, msg, sz)`: `filter` takes the socket event
//! `msg` stands for (see `socket_message.rs`), cuts the bytes of Data events
//! into frames, and tells the service what happened.
//!
//! # Functions
//! - `pack(s) -> frame`: `s` with its 2-byte header. A message over 65535 bytes
//!   raises `netpack.pack: message of N bytes is over the 65535-byte limit of a
//!   frame`.
//! - `filter(queue, msg, sz) -> queue, type, ...`: `queue` is the value the
//!   previous call returned (nil the first time: a new queue is made). `sz` is
//!   ignored (skynet passes the message size). By event:
//!   - Data: `queue` alone when no frame completed; `queue, "data", fd, msg,
//!     sz` when exactly one did (and none was left queued: `msg` is the frame
//!     as a Lua string, `sz` its length); `queue, "more"` when several did: they
//!     wait in the queue, in order, for `pop`.
//!   - Accept: `queue, "open", fd, "ip:port"` (`fd` is the new connection).
//!   - Close: `queue, "close", fd`; Error: `queue, "error", fd, reason` (for a
//!     listener too: an accept that failed for lack of file descriptors). The
//!     socket's partial frame, if any, is dropped (frames it completed before
//!     stay queued).
//!   - Warning: `queue, "warning", fd, kib`.
//!   - Connect and Udp events (a started socket or listener, a datagram), and a
//!     `msg` that is not the socket message being dispatched: `queue` alone.
//! - `pop(queue) -> fd, msg, sz`, or nothing when the queue holds no frame (or
//!   is nil). `for fd, msg, sz in netpack.pop, queue do ... end` works.
//! - `tostring(msg, sz) -> string`: `msg` (a string here, not a C pointer; its
//!   first `sz` bytes if `sz` is given and smaller); nil gives `""`.
//! - `clear(queue)`: drops every partial and queued frame.
//!
//! # Differences from skynet
//! Frames are Lua strings, not C pointers a service must free; `tostring` and
//! `skynet.trash` are therefore plain. `pack` returns one string (skynet's
//! returns a pointer and a size; `socketdriver.send(fd, netpack.pack(s))` works
//! either way). "more" means at least two frames completed in this event (or
//! frames were still queued from an earlier one); skynet also says "more" when
//! one frame completed and a partial one follows it.
//!
//! # Zero copy
//! Received bytes stay [`Bytes`] until a frame is returned: a frame that lies
//! within one Data chunk is a slice of it, one that spans chunks is copied once
//! (by the per-socket [`Buffer`]), and the Lua string is the one copy a frame
//! costs otherwise. A socket without a partial frame costs nothing in the queue.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use mlua::{AnyUserData, Lua, MultiValue, Table, UserData, Value};

use super::socket_buffer::Buffer;
use crate::socket::Event;

/// The largest frame body (the length must fit the 2-byte header).
pub(crate) const MAX_FRAME: usize = u16::MAX as usize;

/// Bytes of the length header.
const HEADER: usize = 2;

/// One socket's frame in progress.
#[derive(Debug, Default)]
struct Partial {
    /// The bytes received after the last complete frame (and after `need`'s
    /// header, once it is read).
    buffer: Buffer,
    /// The body length of the frame being received, once its header is in.
    need: Option<usize>,
}

/// Frames being received on many sockets, and frames complete but not yet
/// popped. Plain data: no Lua, no sockets.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Sockets with a frame in progress (others have no entry).
    partial: HashMap<u32, Partial>,
    /// Complete frames, oldest first, with their socket.
    frames: VecDeque<(u32, Bytes)>,
}

impl Framer {
    /// Takes bytes received on socket `fd`; complete frames go to the back of
    /// the queue. Returns how many completed.
    pub(crate) fn push(&mut self, fd: u32, data: Bytes) -> usize {
        match self.partial.get_mut(&fd) {
            Some(partial) => {
                partial.buffer.push(data);
                let completed = Self::cut(fd, partial, &mut self.frames);
                if partial.need.is_none() && matches!(partial.buffer.len(), 0) {
                    self.partial.remove(&fd);
                }
                completed
            }
            None => self.push_fresh(fd, data),
        }
    }

    /// `push` for a socket with no frame in progress: frames are sliced from
    /// `data` directly, and only a remainder gets a [`Partial`].
    fn push_fresh(&mut self, fd: u32, mut data: Bytes) -> usize {
        let mut completed = 0;
        while data.len() >= HEADER {
            let need = usize::from(u16::from_be_bytes([data[0], data[1]]));
            if data.len() < HEADER + need {
                break;
            }
            let mut frame = data.split_to(HEADER + need);
            let body = frame.split_off(HEADER);
            self.frames.push_back((fd, body));
            completed += 1;
        }
        if !data.is_empty() {
            let mut partial = Partial::default();
            partial.buffer.push(data);
            completed += Self::cut(fd, &mut partial, &mut self.frames);
            self.partial.insert(fd, partial);
        }
        completed
    }

    /// Moves the complete frames at the front of `partial` to `frames`.
    fn cut(fd: u32, partial: &mut Partial, frames: &mut VecDeque<(u32, Bytes)>) -> usize {
        let mut completed = 0;
        loop {
            let need = match partial.need {
                Some(need) => need,
                None => match partial.buffer.read_exact(HEADER) {
                    Some(header) => {
                        let need = usize::from(u16::from_be_bytes([header[0], header[1]]));
                        partial.need = Some(need);
                        need
                    }
                    None => return completed,
                },
            };
            match partial.buffer.read_exact(need) {
                Some(body) => {
                    partial.need = None;
                    frames.push_back((fd, body));
                    completed += 1;
                }
                None => return completed,
            }
        }
    }

    /// The oldest complete frame.
    pub(crate) fn pop(&mut self) -> Option<(u32, Bytes)> {
        self.frames.pop_front()
    }

    /// Frames complete and not yet popped.
    pub(crate) fn queued(&self) -> usize {
        self.frames.len()
    }

    /// Drops socket `fd`'s frame in progress (its complete frames stay queued).
    pub(crate) fn drop_partial(&mut self, fd: u32) {
        self.partial.remove(&fd);
    }

    /// Whether socket `fd` has a frame in progress.
    #[cfg(test)]
    fn has_partial(&self, fd: u32) -> bool {
        self.partial.contains_key(&fd)
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.partial.clear();
        self.frames.clear();
    }
}

/// The queue `filter` returns: a [`Framer`] as a Lua userdata.
#[derive(Debug, Default)]
pub(crate) struct Queue(Framer);

impl UserData for Queue {}

/// `bytes` with its 2-byte header, or why it cannot be a frame.
pub(crate) fn frame(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let len = u16::try_from(bytes.len()).map_err(|_| {
        format!(
            "message of {} bytes is over the {MAX_FRAME}-byte limit of a frame",
            bytes.len()
        )
    })?;
    let mut out = Vec::with_capacity(HEADER + bytes.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(out)
}

fn error(function: &str, message: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("netpack.{function}: {message}"))
}

/// The queue argument: an existing [`Queue`], or none for nil.
fn queue_arg(function: &str, value: &Value) -> mlua::Result<Option<AnyUserData>> {
    match value {
        Value::Nil => Ok(None),
        Value::UserData(ud) if ud.is::<Queue>() => Ok(Some(ud.clone())),
        other => Err(error(
            function,
            format!(
                "the queue must be nil or a netpack queue, got {}",
                other.type_name()
            ),
        )),
    }
}

/// Builds the `skynet.netpack` table.
pub(crate) fn open(lua: &Lua, _: ()) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, s: mlua::String| {
            let framed = frame(&s.as_bytes()).map_err(|e| error("pack", e))?;
            lua.create_string(framed)
        })?,
    )?;
    t.set(
        "filter",
        lua.create_function(|lua, (queue, msg): (Value, Value)| {
            let queue = match queue_arg("filter", &queue)? {
                Some(queue) => queue,
                None => lua.create_userdata(Queue::default())?,
            };
            let mut out = vec![Value::UserData(queue.clone())];
            if let Some(event) = super::socket_message::take(lua, &msg) {
                let mut framer = queue.borrow_mut::<Queue>()?;
                filter(lua, &mut framer.0, event, &mut out)?;
            }
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    t.set(
        "pop",
        lua.create_function(|lua, queue: Value| {
            let Some(queue) = queue_arg("pop", &queue)? else {
                return Ok(MultiValue::new());
            };
            let popped = queue.borrow_mut::<Queue>()?.0.pop();
            match popped {
                Some((fd, body)) => Ok(MultiValue::from_iter([
                    Value::Integer(i64::from(fd)),
                    Value::String(lua.create_string(&body)?),
                    Value::Integer(body.len() as i64),
                ])),
                None => Ok(MultiValue::new()),
            }
        })?,
    )?;
    t.set(
        "tostring",
        lua.create_function(|lua, (msg, sz): (Value, Option<i64>)| match msg {
            Value::Nil => lua.create_string(""),
            Value::String(s) => {
                let bytes = s.as_bytes();
                match sz {
                    Some(sz) if sz < 0 => Err(error("tostring", format!("invalid size {sz}"))),
                    Some(sz) if (sz as usize) < bytes.len() => {
                        lua.create_string(&bytes[..sz as usize])
                    }
                    _ => Ok(s.clone()),
                }
            }
            other => Err(error(
                "tostring",
                format!("the message must be a string, got {}", other.type_name()),
            )),
        })?,
    )?;
    t.set(
        "clear",
        lua.create_function(|_, queue: Value| {
            if let Some(queue) = queue_arg("clear", &queue)? {
                queue.borrow_mut::<Queue>()?.0.clear();
            }
            Ok(())
        })?,
    )?;
    Ok(t)
}

/// What `filter` returns after the queue, for `event` (see the module docs).
fn filter(lua: &Lua, framer: &mut Framer, event: Event, out: &mut Vec<Value>) -> mlua::Result<()> {
    let int = |n: u64| Value::Integer(n as i64);
    let text = |s: &str| lua.create_string(s).map(Value::String);
    match event {
        Event::Data { id, data } => {
            let fd = id.get();
            let before = framer.queued();
            let completed = framer.push(fd, data);
            if completed == 1 && before == 0 {
                let (fd, body) = framer.pop().expect("the frame just completed is queued");
                out.extend([
                    text("data")?,
                    int(u64::from(fd)),
                    Value::String(lua.create_string(&body)?),
                    int(body.len() as u64),
                ]);
            } else if completed > 0 {
                out.push(text("more")?);
            }
        }
        Event::Accept { id, peer, .. } => {
            out.extend([
                text("open")?,
                int(u64::from(id.get())),
                text(&peer.to_string())?,
            ]);
        }
        Event::Close { id } => {
            framer.drop_partial(id.get());
            out.extend([text("close")?, int(u64::from(id.get()))]);
        }
        Event::Error { id, reason } => {
            framer.drop_partial(id.get());
            out.extend([text("error")?, int(u64::from(id.get())), text(&reason)?]);
        }
        Event::Warning { id, kib } => {
            out.extend([text("warning")?, int(u64::from(id.get())), int(kib as u64)]);
        }
        Event::Connect { .. } | Event::Udp { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::SocketId;
    use proptest::prelude::*;

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        bodies.iter().flat_map(|b| frame(b).unwrap()).collect()
    }

    fn drain(framer: &mut Framer) -> Vec<(u32, Vec<u8>)> {
        std::iter::from_fn(|| framer.pop())
            .map(|(fd, b)| (fd, b.to_vec()))
            .collect()
    }

    #[test]
    fn frame_prefixes_the_big_endian_length() {
        assert_eq!(frame(b"").unwrap(), [0, 0]);
        assert_eq!(frame(b"hi").unwrap(), [0, 2, b'h', b'i']);
        let big = vec![7u8; 0x1234];
        assert_eq!(frame(&big).unwrap()[..2], [0x12, 0x34]);
        assert_eq!(frame(&vec![0u8; MAX_FRAME]).unwrap().len(), MAX_FRAME + 2);
    }

    #[test]
    fn frame_refuses_a_message_over_65535_bytes() {
        let err = frame(&vec![0u8; MAX_FRAME + 1]).unwrap_err();
        assert!(err.contains("65536 bytes"), "{err}");
        assert!(err.contains("65535"), "{err}");
    }

    #[test]
    fn one_chunk_with_one_frame_is_sliced_without_a_partial() {
        let mut framer = Framer::default();
        let chunk = Bytes::from(framed(&[b"hello"]));
        assert_eq!(framer.push(3, chunk.clone()), 1);
        let (fd, body) = framer.pop().unwrap();
        assert_eq!((fd, &body[..]), (3, &b"hello"[..]));
        // A slice of the chunk, not a copy.
        assert_eq!(body.as_ptr(), chunk[2..].as_ptr());
        assert!(!framer.has_partial(3));
    }

    #[test]
    fn several_frames_in_one_chunk_come_out_in_order() {
        let mut framer = Framer::default();
        let chunk = framed(&[b"a", b"", b"ccc", b"dd"]);
        assert_eq!(framer.push(1, Bytes::from(chunk)), 4);
        let got = drain(&mut framer);
        let want: Vec<(u32, Vec<u8>)> = [&b"a"[..], b"", b"ccc", b"dd"]
            .iter()
            .map(|b| (1, b.to_vec()))
            .collect();
        assert_eq!(got, want);
        assert!(!framer.has_partial(1));
    }

    #[test]
    fn a_frame_split_byte_by_byte_completes_on_its_last_byte() {
        let mut framer = Framer::default();
        let wire = framed(&[b"split me"]);
        for (i, byte) in wire.iter().enumerate() {
            let completed = framer.push(9, Bytes::copy_from_slice(&[*byte]));
            let last = i == wire.len() - 1;
            assert_eq!(completed, usize::from(last), "after byte {i}");
            assert_eq!(framer.has_partial(9), !last, "after byte {i}");
        }
        assert_eq!(drain(&mut framer), [(9, b"split me".to_vec())]);
    }

    #[test]
    fn a_split_header_then_a_body_with_the_next_frame() {
        let mut framer = Framer::default();
        let wire = framed(&[b"first", b"second", b"third"]);
        assert_eq!(framer.push(2, Bytes::copy_from_slice(&wire[..1])), 0);
        assert_eq!(framer.push(2, Bytes::copy_from_slice(&wire[1..12])), 1);
        assert_eq!(framer.push(2, Bytes::copy_from_slice(&wire[12..])), 2);
        let bodies: Vec<Vec<u8>> = drain(&mut framer).into_iter().map(|(_, b)| b).collect();
        assert_eq!(bodies, [&b"first"[..], b"second", b"third"]);
        assert!(!framer.has_partial(2));
    }

    #[test]
    fn the_largest_frame_across_many_chunks() {
        let mut framer = Framer::default();
        let body: Vec<u8> = (0..MAX_FRAME).map(|i| (i * 7) as u8).collect();
        let wire = frame(&body).unwrap();
        let mut completed = 0;
        for chunk in wire.chunks(4096) {
            completed += framer.push(5, Bytes::copy_from_slice(chunk));
        }
        assert_eq!(completed, 1);
        assert_eq!(drain(&mut framer), [(5, body)]);
    }

    #[test]
    fn sockets_keep_their_own_partial_frames() {
        let mut framer = Framer::default();
        let a = framed(&[b"from a"]);
        let b = framed(&[b"from b"]);
        framer.push(1, Bytes::copy_from_slice(&a[..4]));
        framer.push(2, Bytes::copy_from_slice(&b[..3]));
        assert_eq!(framer.push(2, Bytes::copy_from_slice(&b[3..])), 1);
        assert_eq!(framer.push(1, Bytes::copy_from_slice(&a[4..])), 1);
        assert_eq!(
            drain(&mut framer),
            [(2, b"from b".to_vec()), (1, b"from a".to_vec())]
        );
    }

    #[test]
    fn dropping_a_partial_keeps_the_complete_frames() {
        let mut framer = Framer::default();
        let mut wire = framed(&[b"done"]);
        wire.extend_from_slice(&framed(&[b"never finished"])[..5]);
        assert_eq!(framer.push(4, Bytes::from(wire)), 1);
        assert!(framer.has_partial(4));
        framer.drop_partial(4);
        assert!(!framer.has_partial(4));
        // A new connection's bytes are not glued to the dropped ones.
        assert_eq!(framer.push(4, Bytes::from(framed(&[b"new"]))), 1);
        assert_eq!(
            drain(&mut framer),
            [(4, b"done".to_vec()), (4, b"new".to_vec())]
        );
        framer.push(4, Bytes::from_static(&[0, 9, 1]));
        framer.push(6, Bytes::from(framed(&[b"x"])));
        framer.clear();
        assert_eq!(framer.queued(), 0);
        assert!(!framer.has_partial(4));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Frames on two sockets, their bytes cut at arbitrary points and the
        /// chunks of the two sockets interleaved arbitrarily, come out whole
        /// and in order per socket, and no partial is left behind.
        #[test]
        fn any_split_and_interleaving_gives_back_the_frames(
            bodies in prop::collection::vec(
                (0u32..2, prop_oneof![
                    4 => prop::collection::vec(any::<u8>(), 0..40),
                    1 => prop::collection::vec(any::<u8>(), 200..3000),
                ]),
                0..20,
            ),
            cuts in prop::collection::vec(1usize..64, 1..200),
            order in prop::collection::vec(any::<bool>(), 0..400),
        ) {
            let mut wires: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
            for (fd, body) in &bodies {
                wires[*fd as usize].extend(frame(body).unwrap());
            }
            let mut chunks: [VecDeque<Bytes>; 2] = [VecDeque::new(), VecDeque::new()];
            let mut cut = cuts.iter().cycle();
            for (fd, wire) in wires.iter().enumerate() {
                let mut at = 0;
                while at < wire.len() {
                    let n = (*cut.next().unwrap()).min(wire.len() - at);
                    chunks[fd].push_back(Bytes::copy_from_slice(&wire[at..at + n]));
                    at += n;
                }
            }
            let mut framer = Framer::default();
            let mut completed = 0;
            let mut pick = order.iter().cycle();
            while !chunks[0].is_empty() || !chunks[1].is_empty() {
                let fd = if chunks[0].is_empty() {
                    1
                } else if chunks[1].is_empty() {
                    0
                } else {
                    usize::from(*pick.next().unwrap_or(&false))
                };
                let chunk = chunks[fd].pop_front().unwrap();
                completed += framer.push(fd as u32, chunk);
            }
            prop_assert_eq!(completed, bodies.len());
            let got = drain(&mut framer);
            for fd in 0..2u32 {
                let want: Vec<&Vec<u8>> =
                    bodies.iter().filter(|(f, _)| *f == fd).map(|(_, b)| b).collect();
                let have: Vec<&Vec<u8>> =
                    got.iter().filter(|(f, _)| *f == fd).map(|(_, b)| b).collect();
                prop_assert_eq!(have, want);
                prop_assert!(!framer.has_partial(fd));
            }
        }
    }

    // ----- the Lua functions -----

    fn vm() -> Lua {
        let lua = Lua::new();
        let netpack = open(&lua, ()).unwrap();
        lua.globals().set("netpack", netpack).unwrap();
        lua
    }

    fn id(n: u32) -> SocketId {
        SocketId::from_raw(n).unwrap()
    }

    /// Runs `netpack.filter(queue, msg)` on `event` as the current socket
    /// message; returns the results after the queue, as text.
    fn filter_event(lua: &Lua, event: Event) -> String {
        let msg = super::super::socket_message::begin(lua, event);
        let msg = Value::LightUserData(mlua::LightUserData(msg));
        let described: String = lua
            .load(
                r#"
                local msg = ...
                local r = table.pack(netpack.filter(queue, msg, 0))
                assert(r[1] ~= nil and (queue == nil or r[1] == queue), "the same queue comes back")
                queue = r[1]
                local out = {}
                for i = 2, r.n do out[#out + 1] = tostring(r[i]) end
                return table.concat(out, " ")
                "#,
            )
            .call(msg)
            .unwrap();
        super::super::socket_message::end(lua);
        described
    }

    fn data(fd: u32, bytes: &[u8]) -> Event {
        Event::Data {
            id: id(fd),
            data: Bytes::copy_from_slice(bytes),
        }
    }

    #[test]
    fn lua_pack_and_the_size_error() {
        let lua = vm();
        let framed: mlua::String = lua.load("return netpack.pack('abc')").eval().unwrap();
        assert_eq!(&framed.as_bytes()[..], b"\0\x03abc");
        let err = lua
            .load("return netpack.pack(string.rep('x', 70000))")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("netpack.pack: message of 70000 bytes is over the 65535-byte limit"),
            "{err}"
        );
    }

    #[test]
    fn lua_filter_reports_each_event_type() {
        let lua = vm();
        let peer = "10.0.0.1:4000".parse().unwrap();
        assert_eq!(
            filter_event(
                &lua,
                Event::Accept {
                    listener: id(1),
                    id: id(7),
                    peer
                }
            ),
            "open 7 10.0.0.1:4000"
        );
        assert_eq!(
            filter_event(&lua, data(7, &framed(&[b"ping"]))),
            "data 7 ping 4"
        );
        // Half a frame: nothing yet.
        assert_eq!(filter_event(&lua, data(7, &[0, 3, b'a'])), "");
        // Its end and two more frames: several completed.
        let mut rest = b"bc".to_vec();
        rest.extend(framed(&[b"d", b"ef"]));
        assert_eq!(filter_event(&lua, data(7, &rest)), "more");
        let popped: String = lua
            .load(
                r##"
                local out = {}
                for fd, msg, sz in netpack.pop, queue do
                    out[#out + 1] = fd .. ":" .. msg .. ":" .. sz
                end
                out[#out + 1] = tostring(select("#", netpack.pop(queue)))
                return table.concat(out, " ")
                "##,
            )
            .eval()
            .unwrap();
        assert_eq!(popped, "7:abc:3 7:d:1 7:ef:2 0");
        assert_eq!(
            filter_event(
                &lua,
                Event::Warning {
                    id: id(7),
                    kib: 2048
                }
            ),
            "warning 7 2048"
        );
        assert_eq!(
            filter_event(
                &lua,
                Event::Connect {
                    id: id(7),
                    addr: None
                }
            ),
            ""
        );
        assert_eq!(
            filter_event(
                &lua,
                Event::Error {
                    id: id(8),
                    reason: "broken pipe".into()
                }
            ),
            "error 8 broken pipe"
        );
        assert_eq!(filter_event(&lua, data(7, &[0, 5])), "");
        assert_eq!(filter_event(&lua, Event::Close { id: id(7) }), "close 7");
        // The partial frame went with the close.
        let queue: AnyUserData = lua.globals().get("queue").unwrap();
        assert!(!queue.borrow::<Queue>().unwrap().0.has_partial(7));
    }

    #[test]
    fn lua_filter_of_a_stale_msg_gives_the_queue_alone() {
        let lua = vm();
        let first = super::super::socket_message::begin(&lua, data(3, &framed(&[b"x"])));
        super::super::socket_message::end(&lua);
        let _ = super::super::socket_message::begin(&lua, data(3, &framed(&[b"y"])));
        let n: i64 = lua
            .load("local q = netpack.filter(nil, ...) return select('#', netpack.filter(q, ...))")
            .call(Value::LightUserData(mlua::LightUserData(first)))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn lua_tostring_clear_and_bad_queues() {
        let lua = vm();
        let checks: String = lua
            .load(
                r##"
                local out = {}
                out[1] = netpack.tostring("hello", 4)
                out[2] = netpack.tostring("hello")
                out[3] = "[" .. netpack.tostring(nil) .. "]"
                out[4] = select("#", netpack.pop(nil))
                netpack.clear(nil)
                local ok, err = pcall(netpack.pop, {})
                out[5] = tostring(ok) .. " " .. tostring(err):match("netpack%.pop: [^\n]*")
                ok, err = pcall(netpack.tostring, {})
                out[6] = tostring(ok) .. " " .. tostring(err):match("netpack%.tostring: [^\n]*")
                return table.concat(out, "|")
                "##,
            )
            .eval()
            .unwrap();
        assert_eq!(
            checks,
            "hell|hello|[]|0|false netpack.pop: the queue must be nil or a netpack queue, got table\
             |false netpack.tostring: the message must be a string, got table"
        );
        let _ = filter_event(&lua, data(2, &framed(&[b"a", b"b"])));
        let _ = filter_event(&lua, data(2, &[0, 4]));
        lua.load("netpack.clear(queue)").exec().unwrap();
        let queue: AnyUserData = lua.globals().get("queue").unwrap();
        let queue = queue.borrow::<Queue>().unwrap();
        assert_eq!(queue.0.queued(), 0);
        assert!(!queue.0.has_partial(2));
    }
}
