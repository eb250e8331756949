//! The driver's control channel: a client joins (its topics grouped by label, books by
//! depth, refused when the connection's streams would overflow), leaves, or a message
//! arrives from the next stream in turn, a book snapshot or the REST poller.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::time::Instant;

use super::topics::{Group, TopicState};
use super::{Control, Driver, notice};
use crate::calendar::now_ms;
use crate::normalize::jq::Globals;
use crate::stream::client::Offer;
use crate::stream::dedupe::Seen;
use crate::stream::message::{Channel, Status};

impl Driver {
    pub(super) fn control(&mut self, c: Control) {
        let now = Instant::now();
        match c {
            Control::Join { client, topics, route, reply } => {
                let new = topics.iter().filter(|t| !self.topics.contains_key(&t.stream)).count();
                let max = self.cfg.limits.max_streams;
                if self.topics.len() + new > max {
                    let why = format!(
                        "the {} stream carries at most {max} streams and {} are in use",
                        self.name,
                        self.topics.len()
                    );
                    let _ = reply.send(Err(why));
                    return;
                }
                let names: Vec<String> = topics.iter().map(|t| t.stream.clone()).collect();
                let detail = notice::subscribed_detail(&self.name, &topics);
                let mut books = Vec::new();
                for topic in topics {
                    let (symbol, vs) = (topic.symbol.clone(), topic.vs.clone());
                    if topic.channel == Channel::Book {
                        books.push((topic.stream.clone(), symbol.clone(), vs.clone(), topic.depth));
                    }
                    let t = self.topics.entry(topic.stream.clone()).or_insert_with(|| TopicState {
                        globals: Globals {
                            symbols: vec![topic.symbol.clone()],
                            ids: vec![topic.id.clone()],
                            vs: topic.vs.clone(),
                            ..Globals::default()
                        },
                        topic,
                        groups: Vec::new(),
                        seen: Seen::new(4096),
                        heard: now,
                        silent: false,
                        book: None,
                    });
                    match t.groups.iter_mut().find(|g| g.symbol == symbol && g.vs == vs) {
                        Some(g) => g.clients.push(Arc::clone(&client)),
                        None => t.groups.push(Group { symbol, vs, clients: vec![Arc::clone(&client)] }),
                    }
                }
                self.clients.insert(client.id, names);
                self.route = Some(route);
                client.offer(Status::Subscribed.encode(&detail, now_ms()));
                if self.machine.in_fallback() {
                    client.offer(Status::Fallback.encode(&self.fallback_detail(), now_ms()));
                }
                for (stream, symbol, vs, depth) in books {
                    self.book_join(&stream, &client, &symbol, &vs, depth);
                }
                let _ = reply.send(Ok(()));
                self.wanted_changed(now);
            }
            Control::Leave(id) => {
                for stream in self.clients.remove(&id).unwrap_or_default() {
                    if let Some(t) = self.topics.get_mut(&stream) {
                        for g in &mut t.groups {
                            g.clients.retain(|c| c.id != id);
                        }
                        if let Some(book) = &mut t.book {
                            book.leave(id);
                        }
                        t.groups.retain(|g| !g.clients.is_empty());
                        if t.groups.is_empty() {
                            self.topics.remove(&stream);
                        }
                    }
                }
                self.wanted_changed(now);
            }
            Control::Relayed(n, msg) => self.relayed(n, &msg),
            Control::RelayJoined(n) => self.relay_joined(n),
            Control::BookSnapshot { stream, result } => self.book_snapshot(&stream, result),
            Control::RelayEnded(why) => {
                tracing::warn!(provider = %self.name, %why, "the next stream in turn did not take over");
                self.relay_off = true;
                self.stop_relay();
                self.poll_plan();
            }
            Control::Polled { symbol, vs, msg } => {
                if !self.polled_wanted(&symbol, &vs) {
                    return;
                }
                let mut sent = BTreeSet::new();
                let groups = self.topics.values().flat_map(|t| &t.groups);
                for g in groups.filter(|g| g.symbol == symbol && g.vs == vs) {
                    for c in &g.clients {
                        if sent.insert(c.id) && c.offer(msg.clone()) == Offer::Queued {
                            self.counters.out.inc();
                        }
                    }
                }
            }
        }
    }

    pub(super) fn wanted_changed(&mut self, now: Instant) {
        self.machine.set_wanted(self.topics.keys().cloned().collect(), now);
        self.poll_plan();
        self.dirty = true;
    }
}
