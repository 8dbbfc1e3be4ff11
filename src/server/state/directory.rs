//! The user and queue directory the state machine routes over (no passwords: those stay with
//! the HTTP shell's authenticator).

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

/// Index of a user in the directory; its number is also the key of that user's CometD sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserIdx(u32);

/// Index of a queue in the directory. The first queue is the default queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QueueIdx(u32);

impl UserIdx {
    pub fn new(n: u32) -> Self {
        UserIdx(n)
    }

    /// The number, as the CometD hub keys sessions by.
    pub fn get(self) -> u32 {
        self.0
    }

    fn at(self) -> usize {
        self.0 as usize
    }
}

impl QueueIdx {
    pub const DEFAULT: QueueIdx = QueueIdx(0);

    fn at(self) -> usize {
        self.0 as usize
    }
}

/// Per-user data kept in a `Vec` in directory order, indexed by [`UserIdx`].
macro_rules! indexed_by {
    ($idx:ty => $($t:ty),*) => {$(
        impl Index<$idx> for Vec<$t> {
            type Output = $t;
            fn index(&self, i: $idx) -> &$t {
                &self[i.at()]
            }
        }
        impl IndexMut<$idx> for Vec<$t> {
            fn index_mut(&mut self, i: $idx) -> &mut $t {
                &mut self[i.at()]
            }
        }
    )*};
}

indexed_by!(UserIdx => UserRecord, super::AgentRuntime, crate::server::users::Password);
indexed_by!(QueueIdx => QueueRecord);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// 32 hex digits, as GWS user ids are.
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub queues: Vec<QueueIdx>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// UUID-shaped, as GWS queue ids are.
    pub id: String,
    pub name: String,
    pub members: Vec<UserIdx>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("user {0:?} is listed twice")]
    DuplicateUser(String),
    #[error("queue {0:?} is listed twice")]
    DuplicateQueue(String),
    #[error("user {user:?} names queue {queue:?}, which does not exist")]
    UnknownQueue { user: String, queue: String },
    #[error("the directory has no queue")]
    NoQueue,
    #[error("too many users")]
    TooManyUsers,
    #[error("too many queues")]
    TooManyQueues,
}

/// Users and queues, with lookups by name and by id. The first queue is the default queue,
/// where customer chats go unless they name another.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<UserRecord>,
    queues: Vec<QueueRecord>,
    user_by_name: HashMap<String, UserIdx>,
    user_by_id: HashMap<String, UserIdx>,
    queue_by_name: HashMap<String, QueueIdx>,
    queue_by_id: HashMap<String, QueueIdx>,
}

/// A user to add: name, display names, and the names of its queues.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub queues: Vec<String>,
}

impl Directory {
    /// Builds a directory. User ids are derived from the username (FNV-1a, 128 bits), so the
    /// same name always gets the same id across runs and restarts.
    pub fn build(queue_names: &[String], users: Vec<NewUser>) -> Result<Directory, DirectoryError> {
        if queue_names.is_empty() {
            return Err(DirectoryError::NoQueue);
        }
        let mut dir = Directory::default();
        for name in queue_names {
            if dir.queue_by_name.contains_key(name) {
                return Err(DirectoryError::DuplicateQueue(name.clone()));
            }
            let idx = QueueIdx(
                u32::try_from(dir.queues.len()).map_err(|_| DirectoryError::TooManyQueues)?,
            );
            let h = fnv128(&format!("queue:{name}"));
            let id = format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                (h >> 96) as u32,
                (h >> 80) as u16,
                (h >> 68) as u16 & 0xFFF,
                (h >> 56) as u16 & 0xFFF,
                h as u64 & 0xFFFF_FFFF_FFFF
            );
            dir.queue_by_name.insert(name.clone(), idx);
            dir.queue_by_id.insert(id.clone(), idx);
            dir.queues.push(QueueRecord { id, name: name.clone(), members: Vec::new() });
        }
        for u in users {
            if dir.user_by_name.contains_key(&u.username) {
                return Err(DirectoryError::DuplicateUser(u.username));
            }
            let idx =
                UserIdx(u32::try_from(dir.users.len()).map_err(|_| DirectoryError::TooManyUsers)?);
            let mut queues = Vec::with_capacity(u.queues.len());
            for q in &u.queues {
                let Some(&qi) = dir.queue_by_name.get(q) else {
                    return Err(DirectoryError::UnknownQueue {
                        user: u.username.clone(),
                        queue: q.clone(),
                    });
                };
                queues.push(qi);
                dir.queues[qi].members.push(idx);
            }
            let id = format!("{:032x}", fnv128(&format!("user:{}", u.username)));
            dir.user_by_name.insert(u.username.clone(), idx);
            dir.user_by_id.insert(id.clone(), idx);
            dir.users.push(UserRecord {
                id,
                username: u.username,
                first_name: u.first_name,
                last_name: u.last_name,
                queues,
            });
        }
        Ok(dir)
    }

    pub fn users(&self) -> &[UserRecord] {
        &self.users
    }

    pub fn queues(&self) -> &[QueueRecord] {
        &self.queues
    }

    pub fn user(&self, idx: UserIdx) -> &UserRecord {
        &self.users[idx]
    }

    pub fn queue(&self, idx: QueueIdx) -> &QueueRecord {
        &self.queues[idx]
    }

    pub fn user_by_name(&self, name: &str) -> Option<UserIdx> {
        self.user_by_name.get(name).copied()
    }

    pub fn user_by_id(&self, id: &str) -> Option<UserIdx> {
        self.user_by_id.get(id).copied()
    }

    pub fn queue_by_name(&self, name: &str) -> Option<QueueIdx> {
        self.queue_by_name.get(name).copied()
    }

    pub fn queue_by_id(&self, id: &str) -> Option<QueueIdx> {
        self.queue_by_id.get(id).copied()
    }
}

fn fnv128(s: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, queues: &[&str]) -> NewUser {
        NewUser {
            username: name.into(),
            first_name: name.into(),
            last_name: "Test".into(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
        }
    }

    #[test]
    fn ids_are_stable_and_shaped_like_gws_ids() {
        let d =
            Directory::build(&["default".into()], vec![user("ann", &["default"])]).expect("valid");
        let d2 =
            Directory::build(&["default".into()], vec![user("ann", &["default"])]).expect("valid");
        let first = UserIdx::new(0);
        assert_eq!(d.user(first).id, d2.user(first).id);
        assert_eq!(d.user(first).id.len(), 32);
        assert!(d.user(first).id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(d.queue(QueueIdx::DEFAULT).id.len(), 36);
        assert_eq!(d.user_by_id(&d.user(first).id), Some(first));
        assert_eq!(d.queue(QueueIdx::DEFAULT).members, vec![first]);
    }

    #[test]
    fn rejects_duplicates_and_dangling_queues() {
        let dup = Directory::build(&["q".into()], vec![user("a", &[]), user("a", &[])]);
        assert_eq!(dup.err(), Some(DirectoryError::DuplicateUser("a".into())));
        let dangling = Directory::build(&["q".into()], vec![user("a", &["nope"])]);
        assert!(matches!(dangling, Err(DirectoryError::UnknownQueue { .. })));
        assert_eq!(Directory::build(&[], vec![]).err(), Some(DirectoryError::NoQueue));
    }
}
