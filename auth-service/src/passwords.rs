//! argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1) on a small pool of
//! dedicated threads, one per permitted concurrent hash.
//!
//! - Workers reuse 19 MiB argon2 memory blocks from a shared spare list: allocating one per
//!   hash left a glibc arena per blocking thread (over 1 GiB resident under a login storm) and
//!   spent half the CPU in the kernel zeroing fresh pages. After `RELEASE_MEMORY_AFTER` without
//!   a job the spares are freed, so an idle service holds none of it.
//! - Workers run at a lower OS priority (nice 10): hashing soaks up idle CPU but yields at once
//!   to request handling, probes and the database client, so the service stays responsive
//!   while logins saturate the cores.
//! - The queue in front of the pool is bounded; beyond it a login is refused with 503 and
//!   `Retry-After` instead of piling up memory and latency.
use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use std::{
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};
use tokio::sync::oneshot;
use tracing::Span;

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub valid: bool,
    /// The stored hash uses older parameters: store a new hash now that the password is known.
    pub needs_rehash: bool,
}

/// Jobs waiting for a worker, per worker, before new ones are refused.
const QUEUE_PER_WORKER: usize = 64;

/// The spare memory blocks are freed after this long without a job.
const RELEASE_MEMORY_AFTER: Duration = Duration::from_secs(20);

/// The parameters new hashes get.
fn params() -> Params {
    Params::new(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, Params::DEFAULT_P_COST, None).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing is saturated")]
    Saturated,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

enum Work {
    Hash(SecretString),
    Verify(SecretString, String),
}

enum Done {
    Hashed(String),
    Verified(Verified),
}

struct Job {
    work: Work,
    span: Span,
    reply: oneshot::Sender<anyhow::Result<Done>>,
}

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    /// A hash of a random password, verified when the e-mail is unknown so that a login for
    /// a non-existent account costs the same as one with a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(workers: usize) -> anyhow::Result<Self> {
        Ok(Self::start(workers, RELEASE_MEMORY_AFTER)?.0)
    }

    /// The hasher and the pool its threads share (the tests watch the spare blocks).
    fn start(workers: usize, release_after: Duration) -> anyhow::Result<(Self, Arc<Pool>)> {
        let workers = workers.max(1);
        let (jobs, queue) = mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let pool = Arc::new(Pool { queue: Mutex::new(queue), spare: Mutex::new(Vec::new()), release_after });
        for n in 0..workers {
            let pool = Arc::clone(&pool);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || worker(&pool))
                .context("starting a password-hashing thread")?;
        }
        let mut memory = vec![Block::default(); params().block_count()];
        let dummy = SaltString::generate(&mut OsRng);
        let dummy_hash = hash(&mut memory, dummy.as_str())?;
        lock(&pool.spare).push(memory);
        Ok((Self { jobs, dummy_hash: dummy_hash.into() }, pool))
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        match self.submit(Work::Hash(password)).await? {
            Done::Hashed(hash) => Ok(hash),
            Done::Verified(_) => Err(HashError::Failed(anyhow::anyhow!("a hash job answered a verification"))),
        }
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// account (the answer is then always invalid, after the same amount of work).
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<Verified, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        match self.submit(Work::Verify(password, phc)).await? {
            Done::Verified(verified) if known => Ok(verified),
            Done::Verified(_) => Ok(Verified { valid: false, needs_rehash: false }),
            Done::Hashed(_) => Err(HashError::Failed(anyhow::anyhow!("a verification job answered a hash"))),
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, HashError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { work, span: Span::current(), reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Saturated),
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed(anyhow::anyhow!("the hashing pool stopped")))
            }
        }
        Ok(answer.await.context("a hashing thread died")??)
    }
}

/// What the hashing threads share: the job queue and the memory blocks not in use.
struct Pool {
    queue: Mutex<Receiver<Job>>,
    spare: Mutex<Vec<Vec<Block>>>,
    release_after: Duration,
}

/// A poisoned lock only means another worker panicked while holding it; the data is intact.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn worker(pool: &Pool) {
    lower_priority();
    loop {
        // The one worker waiting on the queue frees the spares when it stays empty; the others
        // wait for the queue's lock holding no memory of their own.
        let job = match lock(&pool.queue).recv_timeout(pool.release_after) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                lock(&pool.spare).clear();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return, // every sender is gone: the service is stopping
        };
        let spare = lock(&pool.spare).pop();
        let mut memory = spare.unwrap_or_else(|| vec![Block::default(); params().block_count()]);
        let result = job.span.in_scope(|| match job.work {
            Work::Hash(password) => hash(&mut memory, password.expose_secret()).map(Done::Hashed),
            Work::Verify(password, phc) => verify(&mut memory, password.expose_secret(), &phc).map(Done::Verified),
        });
        lock(&pool.spare).push(memory);
        let _ = job.reply.send(result);
    }
}

/// Lets every other thread of the machine run first (Linux applies setpriority to the
/// calling thread when given its own id 0).
fn lower_priority() {
    // SAFETY: setpriority only reads its integer arguments; failure leaves the default priority.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

fn hash(memory: &mut [Block], password: &str) -> anyhow::Result<String> {
    let params = params();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, memory)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

fn verify(memory: &mut Vec<Block>, password: &str, phc: &str) -> anyhow::Result<Verified> {
    let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("a stored hash is malformed: {e}"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let version =
        parsed.version.map(Version::try_from).transpose().map_err(|e| anyhow::anyhow!("{e}"))?.unwrap_or_default();
    let stored_params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("a stored hash has no salt or no output");
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    // Hashes made with other memory costs (older parameters) need a block of their size.
    if memory.len() != stored_params.block_count() {
        memory.resize(stored_params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, stored_params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt_bytes,
        &mut out,
        memory.as_mut_slice(),
    );
    let current = params();
    memory.resize(current.block_count(), Block::default());
    computed.map_err(|e| anyhow::anyhow!("verifying a password: {e}"))?;
    // Output's equality is constant-time.
    let valid = Output::new(&out).is_ok_and(|out| out == expected);
    let needs_rehash = valid
        && (algorithm != Algorithm::Argon2id
            || version != Version::V0x13
            || stored_params.m_cost() != current.m_cost()
            || stored_params.t_cost() != current.t_cost()
            || stored_params.p_cost() != current.p_cost());
    Ok(Verified { valid, needs_rehash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let ok = hasher.verify(SecretString::from("correct horse"), Some(hash.clone())).await.unwrap();
        assert_eq!(ok, Verified { valid: true, needs_rehash: false });
        let bad = hasher.verify(SecretString::from("wrong horse"), Some(hash)).await.unwrap();
        assert!(!bad.valid);
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_reference_implementation() {
        use argon2::PasswordVerifier as _;
        let hasher = PasswordHasher::new(1).unwrap();
        let ours = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        let theirs =
            Argon2::default().hash_password(b"correct horse", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(hasher.verify(SecretString::from("correct horse"), Some(theirs)).await.unwrap().valid);
    }

    #[tokio::test]
    async fn spare_memory_is_freed_when_idle_and_hashing_goes_on_after() {
        let (hasher, pool) = PasswordHasher::start(2, Duration::from_millis(300)).unwrap();
        let hash = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(!lock(&pool.spare).is_empty(), "a block is kept between jobs");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(lock(&pool.spare).is_empty(), "idle: the blocks were freed");
        assert!(hasher.verify(SecretString::from("correct horse"), Some(hash)).await.unwrap().valid);
        assert_eq!(lock(&pool.spare).len(), 1, "one block, allocated again for the job");
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(1).unwrap();
        assert!(!hasher.verify(SecretString::from("anything"), None).await.unwrap().valid);
    }

    #[tokio::test]
    async fn weaker_parameters_still_verify_and_ask_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let old = weak.hash_password(b"correct horse", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        let hasher = PasswordHasher::new(1).unwrap();
        let verified = hasher.verify(SecretString::from("correct horse"), Some(old.clone())).await.unwrap();
        assert_eq!(verified, Verified { valid: true, needs_rehash: true });
        assert!(!hasher.verify(SecretString::from("wrong horse"), Some(old)).await.unwrap().valid);
        // The worker is back on the current parameters afterwards.
        let hash = hasher.hash(SecretString::from("x")).await.unwrap();
        assert!(hash.contains("m=19456"));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_rather_than_waited_on() {
        let hasher = PasswordHasher::new(1).unwrap();
        let pending: Vec<_> = (0..QUEUE_PER_WORKER + 8)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(SecretString::from("correct horse")).await })
            })
            .collect();
        let mut saturated = 0;
        for task in pending {
            if matches!(task.await.unwrap(), Err(HashError::Saturated)) {
                saturated += 1;
            }
        }
        assert!(saturated > 0, "no job was refused");
    }
}
