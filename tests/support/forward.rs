//! A TCP forwarder standing between the daemon and Postfix, to make the SMTP server
//! misbehave on cue: refuse sessions (accept and hang up, as a server going down does),
//! forward faithfully, or cut a plaintext SMTP session at an exact point of the Nth
//! mail: just before its end-of-data dot (the server never accepts it) or just after
//! (the server accepts it but its reply never reaches the daemon).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where to cut the Nth mail (counted from 1 across all sessions) sent through.
#[derive(Clone, Copy, Debug)]
pub enum Cut {
    /// Hang up with the whole mail sent but its final `.` line.
    BeforeEndOfData(usize),
    /// Pass the final `.` line on, then hang up on the client before the server's reply.
    AfterEndOfData(usize),
}

struct State {
    forwarding: bool,
    cut: Option<Cut>,
    /// End-of-data lines seen so far.
    mails: usize,
}

pub struct Forwarder {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Forwarder {
    /// Listens on a free loopback port, refusing sessions until `forward` is called.
    pub fn new(to: u16) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            forwarding: false,
            cut: None,
            mails: 0,
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !lock(&shared).forwarding {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let server = TcpStream::connect(("127.0.0.1", to)).expect("server");
                session(client, server, Arc::clone(&shared));
            }
        });
        Forwarder { port, state }
    }

    pub fn forward(&self) {
        lock(&self.state).forwarding = true;
    }

    /// Cuts one mail as told; sessions are then refused for 2 s, then forwarded again.
    pub fn cut(&self, cut: Cut) {
        lock(&self.state).cut = Some(cut);
    }

    /// End-of-data lines seen so far.
    pub fn mails(&self) -> usize {
        lock(&self.state).mails
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

const END_OF_DATA: &[u8] = b"\r\n.\r\n";
/// How long sessions are refused after a cut.
const REFUSE_AFTER_CUT: Duration = Duration::from_secs(2);

fn session(client: TcpStream, server: TcpStream, state: Arc<Mutex<State>>) {
    let mute = Arc::new(AtomicBool::new(false));
    // Server to client, unless muted (after a cut past the dot, its reply is dropped).
    {
        let (mut from, mut to) = (
            server.try_clone().expect("clone"),
            client.try_clone().expect("clone"),
        );
        let mute = Arc::clone(&mute);
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || mute.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        });
    }
    // Client to server, watching for end-of-data lines.
    std::thread::spawn(move || {
        let (mut from, mut to) = (client, server);
        let mut buf = [0u8; 16 * 1024];
        // The last bytes of the previous read, so a marker split across reads is seen.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let mut seen: Vec<u8> = tail.clone();
            seen.extend_from_slice(chunk);
            let mut search = 0;
            let mut cut_now = None;
            while let Some(at) = find(&seen[search..], END_OF_DATA) {
                let end = search + at + END_OF_DATA.len();
                search = end;
                let mut s = lock(&state);
                s.mails += 1;
                let n = s.mails;
                match s.cut {
                    Some(Cut::BeforeEndOfData(k)) if k == n => {
                        // Up to and with the CRLF that ends the last line of text.
                        cut_now = Some((end - 3, false));
                    }
                    Some(Cut::AfterEndOfData(k)) if k == n => cut_now = Some((end, true)),
                    _ => continue,
                }
                s.cut = None;
                s.forwarding = false;
                break;
            }
            if let Some((upto, after)) = cut_now {
                // `upto` counts in `seen`, which starts with `tail`.
                let upto = upto.saturating_sub(tail.len()).min(chunk.len());
                if after {
                    mute.store(true, Ordering::SeqCst);
                }
                let _ = to.write_all(&chunk[..upto]);
                let _ = from.shutdown(Shutdown::Both);
                // Give the server time to read what it was sent before it sees us go.
                std::thread::sleep(Duration::from_millis(500));
                let _ = to.shutdown(Shutdown::Both);
                let state = Arc::clone(&state);
                std::thread::spawn(move || {
                    std::thread::sleep(REFUSE_AFTER_CUT);
                    lock(&state).forwarding = true;
                });
                return;
            }
            if to.write_all(chunk).is_err() {
                break;
            }
            let keep = seen.len().min(END_OF_DATA.len() - 1);
            tail = seen[seen.len() - keep..].to_vec();
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
