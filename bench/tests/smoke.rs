//! The benchmark, run with --smoke against real mounts: it must finish,
//! leave nothing mounted, and write results for all four systems, every
//! floor and every workload. Timings are never checked; they depend on the
//! machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SYSTEMS: [&str; 4] = ["mailslotfs", "floor", "mqueue", "unix-dgram"];
const TIME_LIMIT: Duration = Duration::from_secs(180);

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

#[test]
fn smoke_run_writes_json_and_svg_for_all_systems_and_workloads() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: the benchmark needs FUSE (modprobe fuse); this test does not skip"
    );
    // The benchmark measures the mailslotfs daemon built beside it. A
    // workspace test run builds both; `-p mailslot-bench` alone does not
    // build the daemon, and could leave an old one there.
    let bench = Path::new(env!("CARGO_BIN_EXE_mailslot-bench"));
    let daemon = bench.with_file_name("mailslotfs");
    assert!(
        daemon.is_file(),
        "no mailslotfs daemon at {}: run this test with `cargo test --workspace`, which builds it",
        daemon.display()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir_path = dir
        .path()
        .canonicalize()
        .expect("canonical temporary directory");
    let out = dir_path.join("results");
    // The benchmark mounts under TMPDIR, so everything it mounts is ours to
    // look for afterwards.
    let tmp = dir_path.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // The neighbours workload runs as two other users, who must reach
    // the mounts under it.
    {
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&dir_path, open.clone()).unwrap();
        std::fs::set_permissions(&tmp, open).unwrap();
    }

    let mut child = Command::new(bench)
        .arg("--smoke")
        .arg("--daemon")
        .arg(&daemon)
        .arg("--out")
        .arg(&out)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting mailslot-bench");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > TIME_LIMIT {
            // Only the process this test started, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());

    let left = mounts_under(&dir_path);
    for m in left.iter().rev() {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
    assert!(
        left.is_empty(),
        "the benchmark left mounts behind: {left:?}\n{stderr}"
    );
    let status = status.unwrap_or_else(|| {
        panic!("mailslot-bench --smoke did not finish in {TIME_LIMIT:?}\n{stderr}")
    });
    assert!(
        status.success(),
        "mailslot-bench --smoke failed: {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let json = std::fs::read_to_string(out.join("results.json")).expect("results.json written");
    let report: serde_json::Value = serde_json::from_str(&json).expect("results.json is JSON");
    let listed: Vec<&str> = report["systems"]
        .as_array()
        .expect("a systems list")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    let rows = report["throughput"].as_array().expect("throughput rows");
    for system in SYSTEMS {
        assert!(
            listed.contains(&system),
            "{system} missing from the systems list: {listed:?}"
        );
        for workload in ["pairs", "fan-in"] {
            assert!(
                rows.iter().any(|r| r["system"] == system
                    && r["workload"] == workload
                    && r["msgs_per_s"].as_f64().is_some()),
                "no {workload} result for {system}"
            );
        }
        assert!(
            report["latency"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["system"] == system),
            "no wake-up latency for {system}"
        );
    }
    assert!(
        report["memory"]["overhead_bytes_per_message"]
            .as_f64()
            .is_some(),
        "no memory result"
    );
    for row in rows.iter().filter(|r| r["system"] != "floor") {
        assert_eq!(row["verified"], true, "messages lost or reordered: {row}");
    }
    // A run's fan-in figure is all of its rounds, each of every message.
    let settings = &report["settings"];
    let rounds = settings["fan_in_rounds"].as_u64().expect("fan-in rounds");
    assert!(rounds > 1, "the smoke run adds up no rounds: {settings}");
    let per_run = rounds
        * settings["fan_in_writers"].as_u64().expect("writers")
        * settings["fan_in_messages_per_writer"]
            .as_u64()
            .expect("messages per writer");
    for row in rows.iter().filter(|r| r["workload"] == "fan-in") {
        assert_eq!(
            row["messages"], per_run,
            "fan-in rounds not added up: {row}"
        );
    }

    // Every floor measured in every workload, and each workload held
    // against one of them, by name.
    let floors: Vec<&str> = report["settings"]["floors"]
        .as_array()
        .expect("the floors measured")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(
        floors.contains(&"fuser-1") && floors.contains(&"session-1"),
        "single-threaded floors missing: {floors:?}"
    );
    let floor_rows = report["floors"].as_array().expect("floor rows");
    for workload in ["pairs 1→1 64 B", "fan-in 16→1 64 B", "wake-up round trip"] {
        for floor in &floors {
            assert!(
                floor_rows.iter().any(|r| r["workload"] == workload
                    && r["floor"] == *floor
                    && r["figure"].as_f64().is_some_and(f64::is_finite)),
                "no {workload} figure for floor {floor}"
            );
        }
        assert_eq!(
            floor_rows
                .iter()
                .filter(|r| r["workload"] == workload && r["best"] == true)
                .count(),
            1,
            "{workload} has not exactly one best floor"
        );
    }
    for row in rows.iter().filter(|r| r["system"] == "floor") {
        assert!(
            row["floor"].as_str().is_some_and(|f| floors.contains(&f)),
            "the floor row does not name its floor: {row}"
        );
    }

    let threads = report["threads"].as_array().expect("threads rows");
    for workload in ["pairs", "fan-in"] {
        for n in [1, 2, 4] {
            assert!(
                threads.iter().any(|r| r["workload"] == workload
                    && r["threads"] == n
                    && r["msgs_per_s"].as_f64().is_some()
                    && r["vs_floor"].as_f64().is_some()
                    && r["verified"] == true),
                "no {workload} result for mailslotfs --threads {n}"
            );
        }
    }

    let waiting = &report["waiting"];
    assert!(
        waiting["readers"].as_u64().is_some_and(|n| n > 0),
        "no waiting readers: {waiting}"
    );
    for field in [
        "cpu_percent_of_core",
        "fds_per_reader",
        "rss_bytes_per_reader",
        "fds_before",
        "fds_waiting",
        "rss_before_kib",
        "rss_waiting_kib",
    ] {
        assert!(
            waiting[field].as_f64().is_some(),
            "waiting: no {field}: {waiting}"
        );
    }

    let interrupt = report["interrupt"].as_array().expect("interrupt rows");
    for system in ["mailslotfs", "fifo", "mqueue"] {
        assert!(
            interrupt.iter().any(|r| r["system"] == system
                && r["p50_us"].as_f64().is_some()
                && r["p99_us"].as_f64().is_some()),
            "no interrupt latency for {system}"
        );
    }
    // The neighbours workload: the victim's figures quiet and under the
    // flood, each a real measurement, and a flood that really ran.
    let n = &report["neighbours"];
    assert!(
        n["rounds"].as_u64().is_some_and(|r| r >= 1),
        "no neighbours rounds: {n}"
    );
    for field in [
        "quiet_msgs_per_s",
        "flood_msgs_per_s",
        "pairs_ratio",
        "quiet_p99_us",
        "flood_p99_us",
        "p99_ratio",
    ] {
        assert!(
            n[field].as_f64().is_some_and(|x| x.is_finite() && x > 0.0),
            "neighbours: {field} missing or not a positive figure: {n}"
        );
    }
    assert_eq!(n["verified"], true, "the victim's messages were lost: {n}");
    for field in ["flood_writes_per_s", "flood_releases_per_s"] {
        assert!(
            n[field].as_f64().is_some_and(|x| x > 0.0),
            "neighbours: the flood did not run ({field}): {n}"
        );
    }

    // The receive workload: its figures there, and every datagram sent
    // either read by the server or counted as dropped, in every step.
    let recv = &report["receive"];
    for field in [
        "mailslotfs_msgs_per_s",
        "udp_floor_msgs_per_s",
        "local_read_msgs_per_s",
        "vs_local_read",
    ] {
        assert!(
            recv[field].as_f64().is_some(),
            "receive: no {field}: {recv}"
        );
    }
    let steps = recv["steps"].as_array().expect("receive steps");
    for system in ["mailslotfs", "udp-floor"] {
        assert!(
            steps.iter().any(|s| s["system"] == system),
            "no receive step for {system}"
        );
    }
    for s in steps {
        let n = |f: &str| {
            s[f].as_u64()
                .unwrap_or_else(|| panic!("step without {f}: {s}"))
        };
        assert!(n("sent") > 0, "nothing sent: {s}");
        assert_eq!(
            n("sent"),
            n("read") + n("lost"),
            "a datagram neither read nor counted as dropped: {s}"
        );
        assert!(
            s["cpu_ns_per_datagram"].as_f64().is_some(),
            "no CPU figure: {s}"
        );
        if s["system"] == "mailslotfs" {
            assert_eq!(
                n("received"),
                n("sent") - n("dropped_socket") - n("dropped_link"),
                "the daemon's received counter disagrees: {s}"
            );
        }
    }
    assert_eq!(recv["accounted"], true, "receive: {recv}");

    // The large pairs again, the writer held near its reader, every
    // system with its messages checked.
    for size in [4096, 61440] {
        let near: Vec<_> = report["throughput"]
            .as_array()
            .expect("throughput")
            .iter()
            .filter(|t| t["workload"] == "pairs-near" && t["size"] == size)
            .collect();
        assert!(
            near.iter()
                .any(|t| t["system"] == "mailslotfs" && t["verified"] == true),
            "no checked pairs-near row of mailslotfs at {size} B"
        );
        assert!(
            near.iter().any(|t| t["system"] == "floor"),
            "no floor for pairs-near at {size} B"
        );
    }

    let targets = report["targets"].as_array().expect("targets");
    for name in [
        "pairs-64B",
        "pairs-4KiB",
        "pairs-60KiB",
        "fan-in",
        "wake-up",
        "waiting-cpu",
        "interrupt-p99",
        "receive",
    ] {
        assert!(
            targets
                .iter()
                .any(|t| t["name"] == name && t["met"].is_boolean()),
            "target {name} not judged"
        );
    }

    let svg = std::fs::read_to_string(out.join("throughput.svg")).expect("throughput.svg written");
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "not an SVG document"
    );
    for system in SYSTEMS {
        assert!(svg.contains(system), "{system} missing from the plot");
    }
    assert!(stdout.contains("messages/s"), "no table printed:\n{stdout}");
}
