//! Access control: who may do what to a znode, checked the way ZooKeeper checks it.
//!
//! Identities arrive with every entry (the connection's authenticated ids, computed by
//! the server at `auth` time), so the check is a pure function of the log.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use paddock_jute::{Acl, ErrorCode, Id};
use sha1::{Digest, Sha1};

/// The digest id for `user:password`: `user:base64(sha1("user:password"))`, as
/// ZooKeeper's `DigestAuthenticationProvider.generateDigest` computes it.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// True if the caller with identities `auth` holds permission `perm` under `acl`.
///
/// The `super` identity passes every check; an empty ACL grants everything (as ZooKeeper
/// treats a node without ACL entries); otherwise some entry carrying the bit must match
/// one of the caller's ids under its scheme's rule.
pub fn allows(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
    if auth.iter().any(|id| id.scheme == "super") || acl.is_empty() {
        return true;
    }
    acl.iter()
        .filter(|entry| entry.perms & perm != 0)
        .any(|entry| {
            let id = &entry.id;
            if id.scheme == "world" && id.id == "anyone" {
                return true;
            }
            auth.iter()
                .filter(|caller| caller.scheme == id.scheme)
                .any(|caller| scheme_matches(&id.scheme, &caller.id, &id.id))
        })
}

fn scheme_matches(scheme: &str, caller: &str, acl_id: &str) -> bool {
    match scheme {
        "ip" => ip_matches(caller, acl_id),
        _ => caller == acl_id,
    }
}

/// `ip` ACL matching: the ACL id is an address with an optional `/bits` mask.
fn ip_matches(caller: &str, acl_id: &str) -> bool {
    let (addr, bits) = match acl_id.split_once('/') {
        Some((addr, bits)) => (addr, bits.parse::<u32>().ok()),
        None => (acl_id, None),
    };
    let (Ok(acl_ip), Ok(caller_ip)) = (addr.parse::<IpAddr>(), caller.parse::<IpAddr>()) else {
        return false;
    };
    // As ZooKeeper: only IPv4 addresses ever match.
    let (IpAddr::V4(acl_ip), IpAddr::V4(caller_ip)) = (acl_ip, caller_ip) else {
        return false;
    };
    let (acl_bytes, caller_bytes) = (acl_ip.octets(), caller_ip.octets());
    let bits = bits.unwrap_or(32);
    if bits > 32 {
        return false;
    }
    (0..bits).all(|bit| {
        let byte = (bit / 8) as usize;
        let mask = 0x80u8 >> (bit % 8);
        acl_bytes[byte] & mask == caller_bytes[byte] & mask
    })
}

fn is_valid_id(id: &Id) -> bool {
    match id.scheme.as_str() {
        "world" => id.id == "anyone",
        "digest" => id.id.split(':').count() == 2,
        // ZooKeeper's IPAuthenticationProvider accepts IPv4 only.
        "ip" => {
            let (addr, bits) = match id.id.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (id.id.as_str(), None),
            };
            addr.parse::<std::net::Ipv4Addr>().is_ok()
                && bits.is_none_or(|bits| bits.parse::<u32>().is_ok_and(|b| b <= 32))
        }
        _ => false,
    }
}

/// True for identities that prove who the caller is (digest, super), as opposed to
/// where it connects from (ip). Only these can stand in for an `auth` ACL entry.
fn is_authenticated(id: &Id) -> bool {
    matches!(id.scheme.as_str(), "digest" | "super")
}

/// Turns a requested ACL into the one to store, as ZooKeeper's `fixupACL` does: `auth`
/// entries become one entry per authenticated identity of the caller, every other entry
/// must be a valid id of a known scheme, duplicates go. Empty, invalid, or an `auth`
/// entry with nobody authenticated: InvalidACL.
pub fn fixup(requested: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if requested.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(requested.len());
    let mut push = |acl: Acl| {
        if !out.contains(&acl) {
            out.push(acl);
        }
    };
    for entry in requested {
        if entry.id.scheme == "auth" {
            let mut any = false;
            for id in auth.iter().filter(|id| is_authenticated(id)) {
                push(Acl {
                    perms: entry.perms,
                    id: id.clone(),
                });
                any = true;
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&entry.id) {
            push(entry.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

/// The ACL as a caller without ADMIN sees it: digest hashes are hidden, as ZooKeeper 3.8
/// does for getACL.
pub fn redacted(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|entry| {
            if entry.id.scheme == "digest" {
                let user = entry.id.id.split(':').next().unwrap_or_default();
                Acl {
                    perms: entry.perms,
                    id: Id::new("digest", format!("{user}:x")),
                }
            } else {
                entry.clone()
            }
        })
        .collect()
}

/// Every distinct ACL stored once and shared by reference count, like ZooKeeper's
/// `ReferenceCountedACLCache`: a million znodes with the same ACL cost one copy.
///
/// Indices are handed out deterministically (lowest free slot first), so replicas that
/// apply the same entries agree on them; they never leave the tree.
#[derive(Debug, Default, Clone)]
pub struct AclTable {
    slots: Vec<Option<AclSlot>>,
    index: HashMap<Vec<Acl>, u32>,
    free: Vec<u32>,
}

#[derive(Debug, Clone)]
struct AclSlot {
    acl: Vec<Acl>,
    refs: u64,
}

impl AclTable {
    /// One more than the largest index in use: a bound for tables indexed by ACL.
    pub(crate) fn index_bound(&self) -> usize {
        self.slots.len()
    }

    /// Takes a reference to `acl`, storing it if new; returns its index.
    pub fn acquire(&mut self, acl: &[Acl]) -> u32 {
        if let Some(&index) = self.index.get(acl) {
            if let Some(Some(slot)) = self.slots.get_mut(index as usize) {
                slot.refs += 1;
            }
            return index;
        }
        let slot = AclSlot {
            acl: acl.to_vec(),
            refs: 1,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(acl.to_vec(), index);
        index
    }

    /// Takes one more reference to the ACL at `index`, which the caller already holds one
    /// of: no lookup by value.
    pub fn retain(&mut self, index: u32) {
        if let Some(Some(slot)) = self.slots.get_mut(index as usize) {
            slot.refs += 1;
        }
    }

    /// Drops a reference taken by [`AclTable::acquire`].
    pub fn release(&mut self, index: u32) {
        let Some(entry) = self.slots.get_mut(index as usize) else {
            return;
        };
        let Some(slot) = entry else { return };
        slot.refs -= 1;
        if slot.refs == 0 {
            self.index.remove(&slot.acl);
            *entry = None;
            self.free.push(index);
            // Keep handing out the lowest free index first.
            self.free.sort_unstable_by(|a, b| b.cmp(a));
        }
    }

    /// The ACL at `index` (empty if none, which never happens for a live node).
    pub fn get(&self, index: u32) -> &[Acl] {
        match self.slots.get(index as usize) {
            Some(Some(slot)) => &slot.acl,
            _ => &[],
        }
    }

    /// Number of distinct ACLs stored.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no ACL is stored.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_jute::perms;

    #[test]
    fn digest_matches_zookeeper() {
        // zkCli: addauth digest super:test ↔ DigestAuthenticationProvider.generateDigest
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn ip_masks() {
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.1", "::1"));
    }

    #[test]
    fn checks_follow_zookeeper() {
        let alice = Id::new("digest", digest_id("alice:pw"));
        let acl = vec![Acl {
            perms: perms::READ,
            id: alice.clone(),
        }];
        assert!(allows(&acl, perms::READ, std::slice::from_ref(&alice)));
        assert!(!allows(&acl, perms::WRITE, std::slice::from_ref(&alice)));
        assert!(!allows(&acl, perms::READ, &[]));
        assert!(allows(&acl, perms::WRITE, &[Id::new("super", "")]));
        assert!(allows(&[], perms::ADMIN, &[]));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_invalid() {
        let alice = Id::new("digest", "alice:hash");
        assert_eq!(fixup(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&Acl::creator_all(), &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup(&Acl::creator_all(), &[Id::new("ip", "127.0.0.1")]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(&Acl::creator_all(), std::slice::from_ref(&alice)).unwrap(),
            vec![Acl {
                perms: perms::ALL,
                id: alice
            }]
        );
        let bad = Acl {
            perms: perms::ALL,
            id: Id::new("world", "everyone"),
        };
        assert_eq!(fixup(&[bad], &[]), Err(ErrorCode::InvalidAcl));
        let dup = [Acl::open_unsafe(), Acl::open_unsafe()].concat();
        assert_eq!(fixup(&dup, &[]).unwrap().len(), 1);
    }

    #[test]
    fn table_shares_and_frees() {
        let mut table = AclTable::default();
        let a = table.acquire(&Acl::open_unsafe());
        let b = table.acquire(&Acl::open_unsafe());
        assert_eq!(a, b);
        let c = table.acquire(&Acl::read_unsafe());
        assert_ne!(a, c);
        table.release(a);
        table.release(b);
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.acquire(&Acl::creator_all()),
            a,
            "lowest free slot reused"
        );
    }
}
