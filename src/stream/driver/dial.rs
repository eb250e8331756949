//! Opening an upstream connection: the host's URL in the stream's protocol, TLS for
//! `wss` (built once per CA file), the keep-alive its venue needs; a reload's new
//! stream settings take effect here, on the next connection.

use std::sync::Arc;

use super::Driver;
use crate::stream::conn::{self, ConnEvent, Dial};
use crate::stream::machine::ConnId;

impl Driver {
    pub(super) fn connect(&mut self, conn: ConnId, host: usize, streams: &[String]) {
        let snap = self.gw.upgrade().map(|g| g.snapshot());
        let provider = snap.as_ref().and_then(|s| s.config.provider(&self.name));
        // A reload may have changed the stream settings: the next connection uses them.
        if let Some(p) = provider
            && let Some(cfg) = p.stream.as_ref().filter(|c| !Arc::ptr_eq(c, &self.cfg))
        {
            self.machine.reconfigure(super::share(cfg), cfg.hosts.len(), p.breaker);
            self.cfg = Arc::clone(cfg);
        }
        let Some(h) = self.cfg.hosts.get(host).cloned() else {
            let _ = self.events.try_send(ConnEvent::Closed(conn, "host no longer configured".into()));
            return;
        };
        let upstream = snap.as_ref().map(|s| &s.config.upstream);
        let tls = match h.tls.then(|| self.tls(upstream.and_then(|u| u.extra_ca_file.as_deref()))) {
            Some(Err(e)) => {
                let _ = self.events.try_send(ConnEvent::Closed(conn, format!("TLS settings: {e}")));
                return;
            }
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let dial = Dial {
            conn,
            url: self.cfg.protocol.url(&h.base, &self.cfg.path, streams),
            host: h,
            tls,
            timeout: self.cfg.connect_timeout,
            silence: self.cfg.silence,
            user_agent: upstream.map_or_else(|| "marketgate".to_owned(), |u| u.user_agent.clone()),
            keepalive: self.cfg.protocol.keepalive(),
        };
        tracing::debug!(provider = %self.name, connection = self.shard, host = %dial.host.base, streams = streams.len(), "stream connecting");
        self.conns.insert(conn, conn::spawn(dial, self.events.clone()));
        self.dirty = true;
    }

    /// The TLS settings for `wss` hosts (HTTP/1.1 only: a WebSocket handshake is an
    /// HTTP/1.1 request), built once per CA file rather than on every reconnect.
    fn tls(&mut self, extra_ca: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, crate::tls::TlsError> {
        if let Some((ca, cfg)) = &self.tls
            && ca.as_deref() == extra_ca
        {
            return Ok(Arc::clone(cfg));
        }
        let mut c = crate::tls::client_config(extra_ca)?;
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        let c = Arc::new(c);
        self.tls = Some((extra_ca.map(std::path::Path::to_path_buf), Arc::clone(&c)));
        Ok(c)
    }
}
