//! nginx on loopback, serving the corpus as the peers and kabar fetch it.

use crate::prelude::*;

pub(crate) struct Nginx {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its workers (killed, it leaves them behind).
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

pub(crate) fn nginx(dir: &Path, www: &Path) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.join("nginx.conf");
    let tmp = dir.join("nginx-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 2;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n  client_body_temp_path {tmp}/body;\n\
               proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n\
               scgi_temp_path {tmp}/scgi;\n  keepalive_requests 100000;\n  sendfile on;\n\
               server {{ listen 127.0.0.1:{port}; root {www}; etag on; }}\n}}\n",
            tmp = tmp.display(),
            www = www.display()
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&tmp)
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx)");
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "nginx did not start");
    Nginx { child, port }
}

pub(crate) fn installed(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
