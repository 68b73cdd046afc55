//! The network side: the Remote Mailslot Protocol (SMB mailslot writes in
//! NetBIOS datagrams, UDP 138) and NetBIOS name queries (UDP 137).
//!
//! - [`wire`]: the mailslot datagram codec, size limits, and the mapping
//!   between wire mailslot names and paths under the mount.
//! - [`names`]: NetBIOS names (wire encoding and user spelling) and the
//!   name query packets used to resolve them.
//! - [`registration`]: the other name service packets: registration,
//!   refresh, release (and their answers) and node status.
//! - `codec`: what those three share: bounds-checked reading and the one
//!   error type, [`wire::WireError`], with its size limits.
//!
//! - [`service`]: the sockets and threads that use them at run time.
//! - [`samba`]: nmbd's "unexpected" socket, read on hosts where nmbd runs.
//!
//! `wire` and `names` are pure codecs with no sockets, so they can be tested
//! and fuzzed byte for byte.

mod codec;
pub mod names;
pub mod registration;
pub mod samba;
pub mod service;
pub mod wire;

#[cfg(test)]
pub(crate) mod test_rng {
    /// xorshift64: enough randomness for the codecs' mutation tests,
    /// without a dependency.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Sets a random byte of `p` to a random value, or flips one of its
        /// bits: the mutations both codecs' tests start from.
        pub fn scramble_byte(&mut self, p: &mut [u8]) {
            let i = self.below(p.len());
            if self.below(2) == 0 {
                p[i] = self.next() as u8;
            } else {
                p[i] ^= 1 << self.below(8);
            }
        }
    }
}
