//! nginx on loopback, serving the corpus as the peers and kabar fetch it.

use crate::prelude::*;

pub(crate) struct Nginx {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its workers (killed, it leaves them behind).
    fn drop(&mut self) {
        signal(&self.child, libc::SIGTERM);
        let _ = self.child.wait();
    }
}

pub(crate) fn nginx(dir: &Path, www: &Path) -> Nginx {
    nginx_on(dir, www, &["127.0.0.1".to_string()], None)
}

/// nginx on one port of each of `addresses`, logging each request to `log` when given
/// as `msec address user-agent uri` (so a fleet's requests can be told apart).
pub(crate) fn nginx_on(dir: &Path, www: &Path, addresses: &[String], log: Option<&Path>) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen: String = addresses.iter().map(|a| format!("listen {a}:{port}; ")).collect();
    let access = match log {
        Some(log) => format!(
            "log_format fleet '$msec $server_addr \"$http_user_agent\" $uri';\n  access_log {} fleet;",
            log.display()
        ),
        None => "access_log off;".to_string(),
    };
    let conf = dir.join("nginx.conf");
    let tmp = dir.join("nginx-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 2;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  {access}\n  client_body_temp_path {tmp}/body;\n\
               proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n\
               scgi_temp_path {tmp}/scgi;\n  keepalive_requests 100000;\n  sendfile on;\n\
               server {{ {listen}root {www}; etag on; }}\n}}\n",
            tmp = tmp.display(),
            www = www.display(),
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
        std::net::TcpStream::connect((addresses[0].as_str(), port)).is_ok()
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
