/*
** pycodec.h: the topic payload codec's fast paths in C, for module.c (horus._core) only.
**
** horus/messaging/codec.py defines the payload format and is its reference implementation. These
** functions cover what a robot's hot loop sends: typed messages of numbers and texts,
** fixed or in bounded lists (a class of horus.messaging.messages that nests no message) and plain data
** (None, bool, int64, float, str, bytes, list, tuple, dict) of up to PYCODEC_SMALL bytes.
** Each either does exactly what codec.py does (the same bytes when encoding, an equal
** value when decoding) or declines, and then codec.py does the work: numpy arrays, big
** ints, subclasses of the plain types, strings with lone surrogates, the other messages
** (and a message whose text is not UTF-8 or whose list is longer than its N: codec.py refuses it),
** and every payload that is not well formed (so codec.py raises its DecodeError, with its
** message). tests/runtime/test_codec.py holds the two together, hostile payloads included.
**
** All functions: the GIL held, any thread. They run no Python code of the caller's (only
** exact built-in types and member descriptors of registered message classes are touched).
*/
#ifndef HORUS_PYCODEC_H
#define HORUS_PYCODEC_H

#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030A0000
#include <Python.h>

#include <stddef.h>

/* The largest payload pycodec_encode writes: larger ones go through codec.py, which hands
** big buffers to the publisher as parts of their own rather than copying them once more. */
#define PYCODEC_SMALL 4096

/* Add MessageLayout and register_message to module m (at its exec). 0, or -1 with an exception. */
int pycodec_init(PyObject *m);

/*
** Decode the payload buf[0, len), a private copy (never shared memory itself: a decode reads
** bytes more than once). 1: *out is a new reference to the value. 0: declined, codec.py must
** decode it (no exception set). -1: an exception is set (the interpreter's own: out of memory).
*/
int pycodec_decode(const unsigned char *buf, size_t len, PyObject **out);

/*
** Encode value into out[0, PYCODEC_SMALL): the payload's length, or -1 when declined (no
** exception set: codec.py must encode it).
*/
Py_ssize_t pycodec_encode(PyObject *value, unsigned char *out);

/*
** Set every field of message msg from the payload buf[0, len), a private copy, when that payload
** is one message of msg's exact class and the class has a MessageLayout. 1: done (lists of
** the right length reused). 0: declined, msg untouched (no exception; codec.decode_into must
** decide, and raise its DecodeError for another type or a text not UTF-8). -1: an exception is set.
*/
int pycodec_fill(PyObject *msg, const unsigned char *buf, size_t len);

#endif
