//! A Debian 12 machine booted with systemd as PID 1 in a container (`systemd-nspawn`),
//! for tests/systemd.rs. It shares the host's network namespace, so a daemon inside
//! reaches the mail stack on the host's 127.0.0.1; commands run inside it through
//! `nsenter` into the namespaces of its PID 1 (there is no systemd on the host for
//! `machinectl`, hence `--register=no --keep-unit`, see shared/PLATFORM-NOTES.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Container {
    root: tempfile::TempDir,
    nspawn: Child,
    leader: u32,
}

impl Container {
    /// Unpacks `tar` (a root made by mmdebstrap) into a fresh directory and boots it;
    /// returns once systemd says the system is running.
    pub fn boot(tar: &Path) -> Container {
        let root = tempfile::Builder::new()
            .prefix("assistenza-systemd-")
            .tempdir_in("/var/tmp")
            .expect("tempdir for the container");
        let unpacked = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .arg("-xf")
            .arg(tar)
            .status()
            .expect("tar");
        assert!(unpacked.success(), "unpacking {}", tar.display());
        let log = std::fs::File::create(root.path().with_extension("log")).expect("log");
        let nspawn = Command::new("systemd-nspawn")
            .args(["-q", "--register=no", "--keep-unit", "--console=pipe", "-b"])
            .arg("-D")
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn (Debian's systemd-container)");
        let leader = find_leader(nspawn.id());
        let container = Container {
            root,
            nspawn,
            leader,
        };
        // Early on, nsenter may find the namespaces still being set up, and systemd
        // answers "initializing" or "starting" until the boot is done.
        let start = Instant::now();
        let mut state = String::new();
        while start.elapsed() < Duration::from_secs(60) {
            let out = container.sh("systemctl is-system-running");
            state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            state.push_str(String::from_utf8_lossy(&out.stderr).trim());
            if state == "running" || state == "degraded" {
                return container;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the container's systemd did not finish booting within 60 s: {state}\n{}",
            container.console()
        );
    }

    /// Runs a shell script inside the container, as its root, with a plain environment.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.leader.to_string(), "-a", "-r", "-w", "--"])
            .args(["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .args([
                "LANG=C.UTF-8",
                "DEBIAN_FRONTEND=noninteractive",
                "HOME=/root",
            ])
            .args(["/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("nsenter")
    }

    /// `sh`, asserting the script succeeded; returns its stdout.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in the container, `{script}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `script` every 200 ms until it succeeds; false if it never did within `within`.
    pub fn until(&self, script: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.sh(script).status.success() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// One property of a unit, as `systemctl show -p NAME --value` prints it.
    pub fn property(&self, unit: &str, name: &str) -> String {
        self.ok(&format!("systemctl show -p {name} --value {unit}"))
            .trim()
            .to_string()
    }

    /// Where a path inside the container is on the host.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root.path().join(inside.trim_start_matches('/'))
    }

    /// What systemd-nspawn printed (the container's console), for failure messages.
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.root.path().with_extension("log")).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.sh("systemctl poweroff");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        let _ = std::fs::remove_file(self.root.path().with_extension("log"));
    }
}

/// The container's PID 1 on the host: the child of systemd-nspawn named systemd.
fn find_leader(nspawn: u32) -> u32 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let procs = std::fs::read_dir("/proc").expect("/proc");
        for entry in procs.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "PID (comm) STATE PPID …": comm may hold spaces, so split after its ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            if ppid == Some(nspawn) && head.ends_with("(systemd") {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("systemd-nspawn ({nspawn}) started no systemd within 20 s");
}
