# SPDX-License-Identifier: GPL-2.0
"""libktls (helper/lib/ktls.h) through ctypes, for the handshake tests'
Python servers (tests.d/40-psk-crl-sni.sh, tests.d/60-authz.sh).

    lib = libktls.Lib(path_to_libktls_so)
    err = lib.server_handshake(sock.fileno(), profile="p", timeout_ms=20000)
    err, info = lib.handshake_result(sock.fileno())

Calls return 0 or the errno the C call left; nothing raises for a failed
handshake.  The structures mirror struct ktls_opts and struct ktls_info.
"""

import ctypes


class Opts(ctypes.Structure):
    """struct ktls_opts"""
    _fields_ = [("server_name", ctypes.c_char_p),
                ("profile", ctypes.c_char_p),
                ("alpn", ctypes.c_char_p),
                ("timeout_ms", ctypes.c_uint)]


class Info(ctypes.Structure):
    """struct ktls_info"""
    _fields_ = [("version", ctypes.c_ushort),
                ("cipher", ctypes.c_ushort),
                ("resumed", ctypes.c_int),
                ("alpn", ctypes.c_char * 256),
                ("peer", ctypes.c_char * 256)]


def _bytes(s):
    return None if s is None else s.encode()


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path, use_errno=True)
        for name in ("ktls_client_handshake", "ktls_server_handshake"):
            f = getattr(self.lib, name)
            f.argtypes = [ctypes.c_int, ctypes.POINTER(Opts)]
            f.restype = ctypes.c_int
        self.lib.ktls_handshake_result.argtypes = [ctypes.c_int,
                                                   ctypes.POINTER(Info)]
        self.lib.ktls_handshake_result.restype = ctypes.c_int
        self.lib.ktls_strerror.argtypes = [ctypes.c_int]
        self.lib.ktls_strerror.restype = ctypes.c_char_p

    def _handshake(self, f, fd, server_name, profile, alpn, timeout_ms):
        opts = Opts(_bytes(server_name), _bytes(profile), _bytes(alpn),
                    timeout_ms)
        if f(fd, ctypes.byref(opts)):
            return ctypes.get_errno()
        return 0

    def client_handshake(self, fd, server_name=None, profile=None,
                         alpn=None, timeout_ms=0):
        """ktls_client_handshake(): 0 or the errno."""
        return self._handshake(self.lib.ktls_client_handshake, fd,
                               server_name, profile, alpn, timeout_ms)

    def server_handshake(self, fd, server_name=None, profile=None,
                         alpn=None, timeout_ms=0):
        """ktls_server_handshake(): 0 or the errno."""
        return self._handshake(self.lib.ktls_server_handshake, fd,
                               server_name, profile, alpn, timeout_ms)

    def handshake_result(self, fd):
        """ktls_handshake_result(): (0 or the errno, Info)."""
        info = Info()
        if self.lib.ktls_handshake_result(fd, ctypes.byref(info)):
            return ctypes.get_errno(), info
        return 0, info

    def strerror(self, err):
        return self.lib.ktls_strerror(err).decode()
