"""Print a TCP socket option of another process's socket: 1 when TCP_NODELAY is set on it, 0 when not.

Usage: tcp-nodelay.py PID LOCAL_PORT REMOTE_PORT. The socket is the one process PID holds on 127.0.0.1 with that local
and remote port. Node cannot read a socket option, so the test asks the kernel through this: it copies the socket's
file descriptor out of the process with pidfd_getfd(2) (Linux 5.6; needs the right to ptrace PID) and reads the option
with getsockopt(2). Exits 1 with a reason on stderr when the socket or the system call is not found.
"""
import ctypes
import os
import socket
import sys

SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438

pid, local_port, remote_port = (int(a) for a in sys.argv[1:4])
inodes = set()
with open(f'/proc/{pid}/net/tcp') as table:
    for line in table.read().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(':')[1], 16) == local_port and int(remote.split(':')[1], 16) == remote_port:
            inodes.add(inode)
if not inodes:
    sys.exit(f'no socket 127.0.0.1:{local_port} <-> :{remote_port} in /proc/{pid}/net/tcp')

libc = ctypes.CDLL(None, use_errno=True)
pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
if pidfd < 0:
    sys.exit(f'pidfd_open({pid}): {os.strerror(ctypes.get_errno())}')
for fd in os.listdir(f'/proc/{pid}/fd'):
    try:
        target = os.readlink(f'/proc/{pid}/fd/{fd}')
    except OSError:
        continue
    if target.startswith('socket:[') and target[len('socket:['):-1] in inodes:
        mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
        if mine < 0:
            sys.exit(f'pidfd_getfd({pid}, {fd}): {os.strerror(ctypes.get_errno())}')
        with socket.socket(fileno=mine) as s:
            print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        sys.exit(0)
sys.exit(f'process {pid} holds no descriptor for socket inode(s) {sorted(inodes)}')
