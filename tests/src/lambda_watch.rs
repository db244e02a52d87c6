//! `cargo lambda watch` serving the workspace's functions against the emulator.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

use crate::{Account, Emulator, ensure_tools, workspace_root};

/// A binary of the workspace as `cargo build --workspace --bins` builds it:
/// the same features as the tests' own build (`--all-targets`), so this
/// compiles nothing after it. Built once per process (a no-op when fresh), so
/// a test never runs a stale binary.
pub fn built_binary(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--workspace", "--bins", "--locked", "--quiet"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"))
            .join("debug")
    });
    dir.join(name)
}

/// `cargo lambda watch` serving the workspace's functions on a free loopback
/// port, acting as `account` against the emulator. Stopped on drop.
///
/// cargo lambda serves the Runtime API and the invoke endpoint
/// (`--only-lambda-apis`); the functions are the workspace's built binaries,
/// each started here on its first invocation, as cargo lambda would, with the
/// environment it gives them, and kept warm. Left to start them itself, cargo
/// lambda would `cargo run --bin <function>`, which resolves that one
/// package's features and compiles the AWS SDK a second time.
pub struct LambdaWatch {
    pub port: u16,
    /// Where the watch server and the functions log.
    pub log_path: PathBuf,
    child: Child,
    /// The functions started so far, by name.
    functions: Mutex<Vec<(String, Child)>>,
    env: Vec<(String, String)>,
}

impl LambdaWatch {
    /// Starts the dev server with the functions' environment plus `extra`.
    pub fn start(emu: &Emulator, account: &Account, extra: &[(&str, &str)]) -> LambdaWatch {
        use std::os::unix::process::CommandExt;
        let bin = ensure_tools();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut env = emu.env_for(account);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env.push((
            "PATH".into(),
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
        ));
        // The functions' JSON logs go to a file, for a look when a test fails.
        let log_path = workspace_root().join(format!("target/cargo-lambda-watch-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("watch log file");
        let child = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(workspace_root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log.try_clone().expect("log handle"))
            .process_group(0)
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "cargo lambda watch did not start");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        LambdaWatch {
            port,
            log_path,
            child,
            functions: Mutex::new(Vec::new()),
            env,
        }
    }

    /// Starts `function`'s process the first time it is invoked.
    fn warm(&self, function: &str) {
        let mut functions = self.functions.lock().expect("functions");
        if functions.iter().any(|(name, _)| name == function) {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("watch log file");
        let runtime_api = format!("http://127.0.0.1:{}/.rt/{function}", self.port);
        let child = Command::new(built_binary(function))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs([
                ("AWS_LAMBDA_FUNCTION_NAME", function),
                ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096"),
                ("AWS_LAMBDA_RUNTIME_API", &runtime_api),
            ])
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {function}: {e}"));
        functions.push((function.to_string(), child));
    }

    /// `cargo lambda invoke <function> --data-file <file>`: the response on
    /// success, the error text otherwise.
    pub fn invoke(&self, function: &str, data_file: &std::path::Path) -> Result<serde_json::Value, String> {
        self.warm(function);
        let bin = ensure_tools();
        let out = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                function,
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--data-file",
            ])
            .arg(data_file)
            .current_dir(workspace_root())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            serde_json::from_str(stdout.trim()).map_err(|e| format!("response is not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        for (_, f) in self.functions.get_mut().into_iter().flatten() {
            let _ = f.kill();
            let _ = f.wait();
        }
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}
