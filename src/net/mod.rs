//! The network side: the Remote Mailslot Protocol (SMB mailslot writes in
//! NetBIOS datagrams, UDP 138) and NetBIOS name queries (UDP 137).
