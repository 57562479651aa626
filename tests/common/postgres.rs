//! A throwaway PostgreSQL cluster for a test: `initdb` in a temporary
//! directory and the server listening on a Unix socket in it only, run as
//! an unprivileged user (`nobody` when the tests run as root, as in CI).
//! Without PostgreSQL installed a test is skipped, saying so, unless `CI`
//! is set: there a missing PostgreSQL is a failure (`.ci/run` installs
//! Debian's `postgresql`).

use std::path::PathBuf;
use std::process::{Command, Output};

/// The database every test uses.
pub const DATABASE: &str = "clawgate";
/// The socket's name is `.s.PGSQL.<port>`; the directory is the test's own.
const PORT: &str = "5432";

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Run the server's commands as this user (`nobody` under root).
    user: Option<&'static str>,
}

/// The newest PostgreSQL's `bin` directory (Debian's layout).
fn binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

impl Cluster {
    /// A new cluster with the database [`DATABASE`], or `None` (and a
    /// line saying the test is skipped) without PostgreSQL outside CI.
    pub fn start(test: &str) -> Option<Self> {
        let Some(bin) = binaries() else {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!(
                    "{test}: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb), and CI is set: apt-get install postgresql"
                );
            }
            eprintln!(
                "SKIP {test}: PostgreSQL is not installed (apt-get install postgresql); skipped outside CI"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("clawgate-pg")
            .tempdir()
            .unwrap();
        // SAFETY: geteuid has no preconditions.
        let user = (unsafe { libc::geteuid() } == 0).then_some("nobody");
        if user.is_some() {
            let (uid, gid) = nobody();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let cluster = Self { dir, bin, user };
        std::fs::create_dir(cluster.socket_dir()).unwrap();
        if user.is_some() {
            let (uid, gid) = nobody();
            std::os::unix::fs::chown(cluster.socket_dir(), Some(uid), Some(gid)).unwrap();
        }
        let data = cluster.data().display().to_string();
        cluster.run_as_server(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_server();
        cluster.run_as_server(
            "createdb",
            &[
                "-h",
                &cluster.socket_dir().display().to_string(),
                "-p",
                PORT,
                "-U",
                "postgres",
                DATABASE,
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.socket_dir().join(format!(".s.PGSQL.{PORT}"))
    }

    /// The database's URL through a socket named as the server's in `dir`
    /// (a proxy's), no password.
    pub fn url_in(dir: &std::path::Path) -> String {
        format!(
            "postgresql://postgres@/{DATABASE}?host={}&port={PORT}",
            dir.display()
        )
    }

    /// The database's URL: over the Unix socket, no password.
    pub fn url(&self) -> String {
        Self::url_in(&self.socket_dir())
    }

    /// Starts the server (again), waiting until it takes connections.
    pub fn start_server(&self) {
        let options = format!(
            "-k {} -p {PORT} -c listen_addresses='' -F",
            self.socket_dir().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data().display().to_string();
        self.run_as_server(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    /// Stops the server: its connections are closed, new ones refused.
    pub fn stop_server(&self) {
        let data = self.data().display().to_string();
        self.run_as_server("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// Makes `user` a role that must log in with `password` (every other
    /// user is trusted, as before).
    pub fn require_password(&self, user: &str, password: &str) {
        self.psql(&format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"));
        std::fs::write(
            self.data().join("pg_hba.conf"),
            format!("local all {user} scram-sha-256\nlocal all all trust\n"),
        )
        .unwrap();
        let data = self.data().display().to_string();
        self.run_as_server("pg_ctl", &["-D", &data, "reload"]);
    }

    /// `psql -tAc sql` against the database: its output, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        let output = self.command_as_server("psql").args([
            "-h",
            &self.socket_dir().display().to_string(),
            "-p",
            PORT,
            "-U",
            "postgres",
            "-d",
            DATABASE,
            "-tAc",
            sql,
        ]);
        String::from_utf8_lossy(&checked("psql", output).stdout)
            .trim()
            .to_string()
    }

    fn command_as_server(&self, program: &str) -> CommandRun {
        let path = self.bin.join(program);
        let mut command = match self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        command.current_dir(self.dir.path());
        CommandRun(command)
    }

    fn run_as_server(&self, program: &str, args: &[&str]) {
        checked(program, self.command_as_server(program).args(args));
    }
}

/// A command to be run once with its arguments.
struct CommandRun(Command);

impl CommandRun {
    fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Output {
        self.0
            .args(args)
            .output()
            .expect("the PostgreSQL command runs")
    }
}

fn checked(program: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{program}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `nobody`'s user and group ids.
fn nobody() -> (u32, u32) {
    let name = std::ffi::CString::new("nobody").unwrap();
    // SAFETY: a NUL-terminated name; the record is read at once, before
    // any other call could reuse it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!entry.is_null(), "a user nobody exists");
    // SAFETY: checked non-null above.
    unsafe { ((*entry).pw_uid, (*entry).pw_gid) }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ =
            self.command_as_server("pg_ctl")
                .args(["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
