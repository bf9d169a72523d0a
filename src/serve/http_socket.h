// Noticing a client that went away while its request is still generating. cpp-httplib 0.11 gives a
// handler no socket, and writes only fail once the peer has reset the connection, so a
// non-streaming request (which writes nothing until the end) would generate to completion for
// nobody. We find the connection's descriptor from the addresses httplib does give us (the
// handler's thread owns that connection until it returns, so the descriptor cannot be reused
// meanwhile) and poll it for a hang-up.
#pragma once
#include <string>

namespace frugal::serve {

// The descriptor of this process's TCP connection between local_port and remote_addr:remote_port,
// or -1 when there is none (Linux: scans /proc/self/fd).
int find_connection_fd(const std::string& remote_addr, int remote_port, int local_port);

// True when the peer has closed or reset the connection (POLLRDHUP / POLLHUP / POLLERR). Never blocks.
bool peer_closed(int fd);

}  // namespace frugal::serve
