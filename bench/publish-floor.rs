//! The floor of a published reading on this machine, for bench/publish.sh:
//! a loop of only the system calls one cannot do without (wait for the
//! daemon's status to change, read the watch's event, read the status,
//! send one retained MQTT message of the state's size), no parsing, no
//! JSON. Not part of mcce: built with rustc alone (glibc's `inotify` and
//! `poll` declared here). The watch is `mcce publish`'s, on RUN_DIR.
//!
//!   publish-floor RUN_DIR PORT   (a broker on 127.0.0.1:PORT)

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

unsafe extern "C" {
    fn inotify_init1(flags: i32) -> i32;
    fn inotify_add_watch(fd: i32, path: *const std::ffi::c_char, mask: u32) -> i32;
    fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
}

const IN_CLOEXEC: i32 = 0o2000000;
const IN_MODIFY: u32 = 0x2;
const IN_MOVED_TO: u32 = 0x80;
const IN_CREATE: u32 = 0x100;
const POLLIN: i16 = 1;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: publish-floor RUN_DIR PORT");
        std::process::exit(64);
    }
    let port: u16 = args[2].parse().map_err(io::Error::other)?;
    let mut broker = TcpStream::connect(("127.0.0.1", port))?;
    broker.set_nodelay(true)?;
    // CONNECT: MQTT 3.1.1, clean session, keep-alive 600 s, id "floor".
    broker.write_all(&[
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0x02, 0x58, 0, 5, b'f', b'l', b'o', b'o',
        b'r',
    ])?;
    let mut connack = [0u8; 4];
    broker.read_exact(&mut connack)?;
    // PUBLISH, retained, QoS 0: a topic and a payload of the state's size.
    let topic = b"mcce/floor/state";
    let payload = [b'x'; 135];
    let mut message = vec![0x31];
    let mut left = 2 + topic.len() + payload.len();
    loop {
        let byte = (left % 128) as u8;
        left /= 128;
        message.push(if left > 0 { byte | 0x80 } else { byte });
        if left == 0 {
            break;
        }
    }
    message.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    message.extend_from_slice(topic);
    message.extend_from_slice(&payload);

    let dir = CString::new(args[1].as_str()).map_err(io::Error::other)?;
    // SAFETY: plain system calls on a descriptor made here.
    let watch = unsafe {
        let fd = inotify_init1(IN_CLOEXEC);
        if fd < 0 || inotify_add_watch(fd, dir.as_ptr(), IN_MODIFY | IN_MOVED_TO | IN_CREATE) < 0 {
            return Err(io::Error::last_os_error());
        }
        File::from_raw_fd(fd)
    };
    let status = File::open(format!("{}/status", args[1]))?;
    let mut events = [0u8; 4096];
    let mut block = [0u8; 1024];
    loop {
        let mut fds = [
            PollFd {
                fd: watch.as_raw_fd(),
                events: POLLIN,
                revents: 0,
            },
            PollFd {
                fd: broker.as_raw_fd(),
                events: POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two pollfds the kernel fills.
        if unsafe { poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        (&watch).read(&mut events)?;
        status.read_at(&mut block, 0)?;
        broker.write_all(&message)?;
    }
}
