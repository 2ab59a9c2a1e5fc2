/*
** module.c: horus._core, the CPython face of the native core (Limited API, abi3, 3.10+).
**
** Thin on purpose: argument parsing, GIL handling and error mapping. The
** exception classes live in horus/errors.py so Python code can document and
** catch them; this module looks them up once at import.
*/
#include "pycodec.h" /* first: it sets the Python API this module is built for (Limited, 3.10) */
#include <structmember.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "horus.h"

/*
** The buffer protocol joined the stable ABI in 3.11 with the Py_buffer layout
** it has had since 3.3; 3.10's limited headers do not declare it, although
** every libpython exports it. Declaring it here lets one cp310-abi3 wheel
** publish numpy arrays and bytearrays without an extra copy.
*/
#if Py_LIMITED_API + 0 < 0x030B0000
typedef struct {
  void *buf;
  PyObject *obj;
  Py_ssize_t len;
  Py_ssize_t itemsize;
  int readonly;
  int ndim;
  char *format;
  Py_ssize_t *shape;
  Py_ssize_t *strides;
  Py_ssize_t *suboffsets;
  void *internal;
} Py_buffer;
PyAPI_FUNC(int) PyObject_GetBuffer(PyObject *obj, Py_buffer *view, int flags);
PyAPI_FUNC(void) PyBuffer_Release(Py_buffer *view);
#define PyBUF_SIMPLE 0
#endif

#define MAX_PARTS 64
/* A receive copies at most this many times (each a copy the publisher overwrote meanwhile) before
** it reports no message: a loop without end otherwise, against a process flipping seq words. */
#define RECV_ATTEMPTS 16

static PyObject *TopicLayoutError, *TopicBusyError, *MessageTooLargeError, *TopicCorruptError;

static PyObject *raise_rc(int rc, const char *err) {
  switch (rc) {
  case HORUS_ELAYOUT: PyErr_SetString(TopicLayoutError, err); break;
  case HORUS_EBUSY: PyErr_SetString(TopicBusyError, err); break;
  case HORUS_ETOOBIG: PyErr_SetString(MessageTooLargeError, err); break;
  case HORUS_ECORRUPT: PyErr_SetString(TopicCorruptError, err); break;
  case HORUS_EINVAL: PyErr_SetString(PyExc_ValueError, err); break;
  default: {
    PyObject *args = Py_BuildValue("(is)", errno, err);
    if (args) {
      PyErr_SetObject(PyExc_OSError, args);
      Py_DECREF(args);
    }
  }
  }
  return NULL;
}

/* The end of every tp_dealloc here: free the instance, then the reference it held to its (heap) type. */
static void free_instance(PyObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
}

/* ---- Topic ------------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD horus_topic *t;
} TopicObject;

static int topic_live(TopicObject *self) {
  if (self->t) return 1;
  PyErr_SetString(PyExc_ValueError, "topic is closed");
  return 0;
}

static int Topic_init(TopicObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"dir", "name", "slot_size", "capacity", "format", "create", NULL};
  const char *dir, *name;
  unsigned int slot = 0, cap = 0, fmt = 0;
  int create = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|IIIp", kwlist, &dir, &name, &slot, &cap, &fmt, &create)) return -1;
  horus_topic_cfg cfg = {.slot_size = slot, .capacity = cap, .format = fmt, .create = create};
  char err[HORUS_ERRLEN] = "";
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = horus_topic_open(dir, name, &cfg, &self->t, err);
  Py_END_ALLOW_THREADS if (rc != HORUS_OK) {
    raise_rc(rc, err);
    return -1;
  }
  return 0;
}

static void Topic_dealloc(TopicObject *self) {
  horus_topic_close(self->t);
  free_instance((PyObject *)self);
}

static PyObject *Topic_close(TopicObject *self, PyObject *unused) {
  (void)unused;
  horus_topic_close(self->t);
  self->t = NULL;
  Py_RETURN_NONE;
}

static PyObject *Topic_claim_publisher(TopicObject *self, PyObject *unused) {
  (void)unused;
  if (!topic_live(self)) return NULL;
  char err[HORUS_ERRLEN] = "";
  int rc = horus_topic_claim_publisher(self->t, err);
  if (rc != HORUS_OK) return raise_rc(rc, err);
  Py_RETURN_NONE;
}

/* publish(*parts) -> seq: each part is any contiguous buffer (bytes, bytearray, numpy array). */
static PyObject *Topic_publish(TopicObject *self, PyObject *args) {
  if (!topic_live(self)) return NULL;
  Py_ssize_t n = PyTuple_Size(args);
  if (n > MAX_PARTS) {
    PyErr_Format(PyExc_ValueError, "publish takes at most %d parts", MAX_PARTS);
    return NULL;
  }
  Py_buffer views[MAX_PARTS];
  horus_iov iov[MAX_PARTS];
  Py_ssize_t got = 0;
  PyObject *result = NULL;
  for (; got < n; got++) {
    if (PyObject_GetBuffer(PyTuple_GetItem(args, got), &views[got], PyBUF_SIMPLE) != 0) goto done;
    iov[got].base = views[got].buf;
    iov[got].len = (size_t)views[got].len;
  }
  char err[HORUS_ERRLEN] = "";
  uint64_t seq = 0;
  int rc = horus_topic_publish(self->t, iov, (int)n, &seq, err);
  result = rc == HORUS_OK ? PyLong_FromUnsignedLongLong(seq) : raise_rc(rc, err);
done:
  while (got-- > 0) PyBuffer_Release(&views[got]);
  return result;
}

/*
** publish_value(value) -> bool: encode value in C and publish it (True), when pycodec can (small plain
** data, typed messages of numbers and texts: pycodec.h); False, nothing published, when codec.py must encode it.
*/
static PyObject *Topic_publish_value(TopicObject *self, PyObject *value) {
  if (!topic_live(self)) return NULL;
  unsigned char buf[PYCODEC_SMALL];
  Py_ssize_t len = pycodec_encode(value, buf);
  if (len < 0) Py_RETURN_FALSE;
  horus_iov iov = {buf, (size_t)len};
  char err[HORUS_ERRLEN] = "";
  int rc = horus_topic_publish(self->t, &iov, 1, NULL, err);
  if (rc != HORUS_OK) return raise_rc(rc, err);
  Py_RETURN_TRUE;
}

static PyObject *Topic_get_slot_size(TopicObject *self, void *c) {
  (void)c;
  return topic_live(self) ? PyLong_FromUnsignedLong(horus_topic_slot_size(self->t)) : NULL;
}
static PyObject *Topic_get_capacity(TopicObject *self, void *c) {
  (void)c;
  return topic_live(self) ? PyLong_FromUnsignedLong(horus_topic_capacity(self->t)) : NULL;
}
static PyObject *Topic_get_format(TopicObject *self, void *c) {
  (void)c;
  return topic_live(self) ? PyLong_FromUnsignedLong(horus_topic_format(self->t)) : NULL;
}
static PyObject *Topic_get_head(TopicObject *self, void *c) {
  (void)c;
  return topic_live(self) ? PyLong_FromUnsignedLongLong(horus_topic_head(self->t)) : NULL;
}

static PyMethodDef Topic_methods[] = {
    {"close", (PyCFunction)Topic_close, METH_NOARGS, "Unmap the segment and release its locks."},
    {"claim_publisher", (PyCFunction)Topic_claim_publisher, METH_NOARGS,
     "Become the topic's only publisher; TopicBusyError if another process is."},
    {"publish", (PyCFunction)Topic_publish, METH_VARARGS,
     "publish(*parts) -> seq: write one message made of the concatenated buffers."},
    {"publish_value", (PyCFunction)Topic_publish_value, METH_O,
     "publish_value(value) -> bool: encoded in C and published, or False: codec.py must encode it"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Topic_getset[] = {
    {"slot_size", (getter)Topic_get_slot_size, NULL, "max payload bytes per message", NULL},
    {"capacity", (getter)Topic_get_capacity, NULL, "slots in the ring", NULL},
    {"format", (getter)Topic_get_format, NULL, "payload format id", NULL},
    {"head", (getter)Topic_get_head, NULL, "messages published so far", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot Topic_slots[] = {{Py_tp_init, Topic_init},
                                    {Py_tp_dealloc, Topic_dealloc},
                                    {Py_tp_methods, Topic_methods},
                                    {Py_tp_getset, Topic_getset},
                                    {Py_tp_new, PyType_GenericNew},
                                    {Py_tp_doc, "Topic(dir, name, slot_size=0, capacity=0, format=0, create=True)"},
                                    {0, NULL}};

static PyType_Spec Topic_spec = {"horus._core.Topic", sizeof(TopicObject), 0, Py_TPFLAGS_DEFAULT, Topic_slots};

/* ---- Cursor: one subscriber's position on a Topic ---------------------------- */

typedef struct {
  PyObject_HEAD PyObject *topic; /* TopicObject, kept alive while the cursor is */
  horus_cursor c;
} CursorObject;

static PyTypeObject *TopicType;

static horus_topic *cursor_topic(CursorObject *self) {
  TopicObject *t = (TopicObject *)self->topic;
  return topic_live(t) ? t->t : NULL;
}

static int Cursor_init(CursorObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"topic", "at", NULL};
  PyObject *topic, *at = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|O", kwlist, TopicType, &topic, &at)) return -1;
  Py_INCREF(topic);
  PyObject *old = self->topic;
  self->topic = topic;
  Py_XDECREF(old);
  horus_topic *t = cursor_topic(self);
  if (!t) return -1;
  horus_cursor_init(t, &self->c);
  if (at != Py_None) {
    /* A subscriber that waited for the topic to appear wants it from the start. */
    self->c.next = (uint64_t)PyLong_AsUnsignedLongLong(at);
    if (PyErr_Occurred()) return -1;
  }
  return 0;
}

static void Cursor_dealloc(CursorObject *self) {
  Py_XDECREF(self->topic);
  free_instance((PyObject *)self);
}

/*
** Wait (GIL released) until a message is ready for the cursor or timeout_s passed, spinning for
** spin_s first: 1 ready, 0 timed out, -1 with an exception (a signal handler's).
*/
static int cursor_wait(CursorObject *self, horus_topic *t, double timeout_s, double spin_s) {
  /* Bounded before the conversions: a double past uint64_t's range (or NaN) does not convert. */
  uint64_t span = timeout_s * 1e9 < 1e18 ? (uint64_t)(timeout_s * 1e9) : 1000000000000000000u; /* ~31 years */
  uint64_t deadline = horus_now_ns() + span;
  spin_s = spin_s * 1e9 < 1e18 && spin_s > 0 ? spin_s : 0;
  for (;;) {
    uint64_t now = horus_now_ns();
    uint64_t left = now < deadline ? deadline - now : 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = horus_topic_wait(t, &self->c, (uint64_t)(spin_s * 1e9), left);
    Py_END_ALLOW_THREADS if (rc == HORUS_OK) return 1;
    if (rc == HORUS_EMPTY) return 0;
    if (PyErr_CheckSignals() != 0) return -1; /* EINTR: run Python's handlers, then wait on */
  }
}

/* (timeout_s, spin_s) of take and take_into, from args[first:]: 0, or -1 with an exception. */
static int wait_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t first, double *timeout_s, double *spin_s) {
  if (nargs != first + 2) {
    PyErr_Format(PyExc_TypeError, "takes %zd arguments, not %zd", first + 2, nargs);
    return -1;
  }
  *timeout_s = PyFloat_AsDouble(args[first]);
  *spin_s = PyFloat_AsDouble(args[first + 1]);
  return PyErr_Occurred() ? -1 : 0;
}

/*
** The value of a payload copied out whole at buf (len bytes), decoded by pycodec; when pycodec
** declines, the payload itself as a bytearray (`copy` if the bytes are already one: the reference
** is taken over), for codec.py to decode. NULL with an exception.
*/
static PyObject *decoded_or_raw(const unsigned char *buf, size_t len, PyObject *copy) {
  PyObject *value;
  int rc = pycodec_decode(buf, len, &value);
  if (rc != 0) {
    Py_XDECREF(copy);
    return rc > 0 ? value : NULL;
  }
  return copy ? copy : PyByteArray_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
}

/*
** The next message copied out whole (never torn) and decoded where pycodec can: 1 and *out, 0 none,
** -1 with an exception. A small one is copied to the stack; a large one to a bytearray, or, when it
** is one bytes value (tag b), straight into the bytes object the receiver gets: one copy of a frame.
*/
static int take_once(CursorObject *self, horus_topic *t, PyObject **out) {
  unsigned char small[PYCODEC_SMALL];
  for (int attempt = 0; attempt < RECV_ATTEMPTS; attempt++) {
    horus_msg_view v;
    if (horus_topic_peek(t, &self->c, &v) == HORUS_EMPTY) return 0;
    const unsigned char *data = v.data;
    PyObject *copy = NULL;
    /* Every copy below races the publisher on purpose: see [PAYLOAD RACE] in hatomic.h; confirm decides. */
    if (v.len <= sizeof small) {
      memcpy(small, data, v.len);
    } else {
      unsigned char head[5];
      uint32_t n;
      memcpy(head, data, sizeof head);
      memcpy(&n, head + 1, 4);
      int one_bytes = head[0] == 'b' && (size_t)n + sizeof head == v.len; /* codec.py's framing of bytes */
      copy = one_bytes ? PyBytes_FromStringAndSize(NULL, n) : PyByteArray_FromStringAndSize(NULL, v.len);
      if (!copy) return -1;
      if (one_bytes) memcpy(PyBytes_AsString(copy), data + sizeof head, n);
      else memcpy(PyByteArray_AsString(copy), data, v.len);
    }
    if (horus_topic_confirm(t, &self->c, &v) != HORUS_OK) {
      Py_XDECREF(copy); /* overwritten while copying: peek again */
      continue;
    }
    if (copy && PyBytes_Check(copy)) *out = copy;
    else *out = decoded_or_raw(copy ? (const unsigned char *)PyByteArray_AsString(copy) : small, v.len, copy);
    return *out ? 1 : -1;
  }
  return 0;
}

/*
** take(timeout_s, spin_s) -> value | bytearray | None: the next message, decoded in C where pycodec can;
** a bytearray is a payload codec.decode must decode (no payload decodes to a bytearray). None: no
** message, after waiting up to timeout_s (0: no wait) as wait() does.
*/
static PyObject *Cursor_take(CursorObject *self, PyObject *const *args, Py_ssize_t nargs) {
  double timeout_s, spin_s;
  if (wait_args(args, nargs, 0, &timeout_s, &spin_s) != 0) return NULL;
  horus_topic *t = cursor_topic(self);
  if (!t) return NULL;
  PyObject *value = NULL;
  int rc = take_once(self, t, &value);
  if (rc == 0 && timeout_s > 0) {
    int ready = cursor_wait(self, t, timeout_s, spin_s);
    rc = ready > 0 ? take_once(self, t, &value) : ready;
  }
  if (rc < 0) return NULL;
  if (rc == 0) Py_RETURN_NONE;
  return value;
}

/* The next message copied whole into bytearray buf: 1 and its length in *len, 0 none, -1 with an exception. */
static int copy_into(CursorObject *self, horus_topic *t, PyObject *buf, size_t *len) {
  for (int attempt = 0; attempt < RECV_ATTEMPTS; attempt++) {
    horus_msg_view v;
    if (horus_topic_peek(t, &self->c, &v) == HORUS_EMPTY) return 0;
    if ((Py_ssize_t)v.len > PyByteArray_Size(buf)) {
      PyErr_Format(PyExc_ValueError, "take_into: a %zu-byte message does not fit a %zd-byte buffer", (size_t)v.len,
                   PyByteArray_Size(buf));
      return -1;
    }
    /* Races the publisher on purpose: see [PAYLOAD RACE] in hatomic.h; confirm decides. */
    memcpy(PyByteArray_AsString(buf), v.data, v.len);
    if (horus_topic_confirm(t, &self->c, &v) == HORUS_OK) {
      *len = v.len;
      return 1;
    }
    /* overwritten while copying: peek again (buf's bytes beyond any length returned mean nothing) */
  }
  return 0;
}

/*
** take_into(msg, buf, timeout_s, spin_s) -> bool | int: the next message copied into bytearray buf
** (sized to the slot) and set into message msg by pycodec: True. An int: its length in buf, which
** codec.decode_into must set into msg (pycodec declined). False: no message, after waiting up to
** timeout_s as take does. ValueError, the message left unread, when it is longer than buf.
*/
static PyObject *Cursor_take_into(CursorObject *self, PyObject *const *args, Py_ssize_t nargs) {
  double timeout_s, spin_s;
  if (wait_args(args, nargs, 2, &timeout_s, &spin_s) != 0) return NULL;
  PyObject *msg = args[0], *buf = args[1];
  if (!PyByteArray_Check(buf)) {
    PyErr_SetString(PyExc_TypeError, "take_into(msg, buf, timeout_s, spin_s): buf must be a bytearray");
    return NULL;
  }
  horus_topic *t = cursor_topic(self);
  if (!t) return NULL;
  size_t len = 0;
  int got = copy_into(self, t, buf, &len);
  if (got == 0 && timeout_s > 0) {
    int ready = cursor_wait(self, t, timeout_s, spin_s);
    got = ready > 0 ? copy_into(self, t, buf, &len) : ready;
  }
  if (got < 0) return NULL;
  if (got == 0) Py_RETURN_FALSE;
  int rc = pycodec_fill(msg, (const unsigned char *)PyByteArray_AsString(buf), len);
  if (rc < 0) return NULL;
  if (rc > 0) Py_RETURN_TRUE;
  return PyLong_FromSize_t(len);
}

/* ready() -> bool: is a message waiting? Does not consume it. */
static PyObject *Cursor_ready(CursorObject *self, PyObject *unused) {
  (void)unused;
  horus_topic *t = cursor_topic(self);
  if (!t) return NULL;
  horus_msg_view v;
  return PyBool_FromLong(horus_topic_peek(t, &self->c, &v) == HORUS_OK);
}

static PyObject *Cursor_get_missed(CursorObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLongLong(self->c.missed);
}
static PyObject *Cursor_get_next(CursorObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLongLong(self->c.next);
}

static PyMethodDef Cursor_methods[] = {
    {"take", (PyCFunction)(void (*)(void))Cursor_take, METH_FASTCALL,
     "take(timeout_s, spin_s) -> value | bytearray | None: the next message (a bytearray: for codec.decode)"},
    {"take_into", (PyCFunction)(void (*)(void))Cursor_take_into, METH_FASTCALL,
     "take_into(msg, buf, timeout_s, spin_s) -> bool | int: the next message set into msg (an int: its length in "
     "buf, for codec.decode_into)"},
    {"ready", (PyCFunction)Cursor_ready, METH_NOARGS, "ready() -> bool: a message is waiting (not consumed)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Cursor_getset[] = {
    {"missed", (getter)Cursor_get_missed, NULL, "messages overwritten before this cursor read them", NULL},
    {"next", (getter)Cursor_get_next, NULL, "sequence number of the next message wanted", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot Cursor_slots[] = {{Py_tp_init, Cursor_init},
                                     {Py_tp_dealloc, Cursor_dealloc},
                                     {Py_tp_methods, Cursor_methods},
                                     {Py_tp_getset, Cursor_getset},
                                     {Py_tp_new, PyType_GenericNew},
                                     {Py_tp_doc, "Cursor(topic, at=None): a subscriber position, at new messages or at sequence `at`"},
                                     {0, NULL}};

static PyType_Spec Cursor_spec = {"horus._core.Cursor", sizeof(CursorObject), 0, Py_TPFLAGS_DEFAULT, Cursor_slots};

/* ---- ShmGuard: the [SHRINK GUARD] (segment.c) for a mapping made in Python -------- */

typedef struct {
  PyObject_HEAD Py_buffer view; /* held: the mapping cannot be closed (BufferError) while guarded */
  int fd;                       /* our own dup: the caller may close theirs */
  int id;
} ShmGuardObject;

static int ShmGuard_init(ShmGuardObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"fd", "mapping", "header_len", NULL};
  int fd;
  PyObject *mapping;
  Py_ssize_t header_len = 0;
  if (self->view.obj) {
    PyErr_SetString(PyExc_ValueError, "ShmGuard is already guarding a mapping");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(args, kw, "iO|n", kwlist, &fd, &mapping, &header_len)) return -1;
  if (header_len < 0) header_len = HORUS_SHM_GUARD_HEADER_MAX + 1; /* refused below */
  if (PyObject_GetBuffer(mapping, &self->view, PyBUF_SIMPLE) != 0) return -1;
  char err[HORUS_ERRLEN] = "";
  self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  int rc = self->fd < 0 ? HORUS_ESYS : horus_shm_guard(self->view.buf, (size_t)self->view.len, self->fd,
                                                       (size_t)header_len, err);
  if (self->fd < 0) snprintf(err, sizeof err, "cannot duplicate fd %d: %s", fd, strerror(errno));
  if (rc < 0) {
    raise_rc(rc, err);
    if (self->fd >= 0) close(self->fd);
    self->fd = -1;
    PyBuffer_Release(&self->view);
    self->view.obj = NULL;
    return -1;
  }
  self->id = rc;
  return 0;
}

static void ShmGuard_dealloc(ShmGuardObject *self) {
  if (self->view.obj) { /* __init__ succeeded */
    horus_shm_unguard(self->id);
    close(self->fd);
    PyBuffer_Release(&self->view);
  }
  free_instance((PyObject *)self);
}

static PyType_Slot ShmGuard_slots[] = {
    {Py_tp_init, ShmGuard_init},
    {Py_tp_dealloc, ShmGuard_dealloc},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_doc, "ShmGuard(fd, mapping, header_len=0): while it lives, a truncation of the file under the shared "
                "mmap `mapping` is repaired (the file grows back, zeroed, its first header_len bytes restored) "
                "instead of killing the process with SIGBUS"},
    {0, NULL}};

static PyType_Spec ShmGuard_spec = {"horus._core.ShmGuard", sizeof(ShmGuardObject), 0, Py_TPFLAGS_DEFAULT,
                                    ShmGuard_slots};

/* ---- LogRing ------------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD horus_logring *r;
} LogRingObject;

static int LogRing_init(LogRingObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"path", "capacity", "create", NULL};
  const char *path;
  unsigned int cap = 0;
  int create = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|Ip", kwlist, &path, &cap, &create)) return -1;
  char err[HORUS_ERRLEN] = "";
  int rc = horus_logring_open(path, cap, create, &self->r, err);
  if (rc != HORUS_OK) {
    raise_rc(rc, err);
    return -1;
  }
  return 0;
}

static void LogRing_dealloc(LogRingObject *self) {
  horus_logring_close(self->r);
  free_instance((PyObject *)self);
}

/*
** UTF-8 of str s as sys.stderr writes it (errors="backslashreplace": a lone
** surrogate becomes \\udXXX instead of failing a log call). *keep owns the
** bytes when s does not (release with Py_XDECREF). NULL if s is not a str.
*/
static const char *text_utf8(PyObject *s, Py_ssize_t *len, PyObject **keep) {
  *keep = NULL;
  const char *utf8 = PyUnicode_AsUTF8AndSize(s, len);
  if (utf8 || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return utf8;
  PyErr_Clear();
  *keep = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
  char *bytes = NULL;
  if (!*keep || PyBytes_AsStringAndSize(*keep, &bytes, len) != 0) return NULL;
  return bytes;
}

/* One log record's arguments: (level, node, tick, message). */
typedef struct {
  long level;
  unsigned long long tick;
  const char *node, *msg;
  Py_ssize_t node_len, msg_len;
  PyObject *keep_node, *keep_msg;
} log_args;

static void log_args_release(log_args *a) {
  Py_XDECREF(a->keep_node);
  Py_XDECREF(a->keep_msg);
}

static int log_args_parse(PyObject *const *args, log_args *a) {
  memset(a, 0, sizeof *a);
  a->level = PyLong_AsLong(args[0]);
  if (a->level == -1 && PyErr_Occurred()) return -1;
  a->tick = PyLong_AsUnsignedLongLong(args[2]);
  if (PyErr_Occurred()) return -1;
  a->node = text_utf8(args[1], &a->node_len, &a->keep_node);
  if (a->node) a->msg = text_utf8(args[3], &a->msg_len, &a->keep_msg);
  if (a->msg) return 0;
  log_args_release(a);
  return -1;
}

static void log_args_append(horus_logring *r, const log_args *a) {
  /* The ring stores a byte: a level outside 0..255 (none of horus.observability.log's) is clamped, never an error. */
  uint8_t level = a->level < 0 ? 0 : a->level > 255 ? 255 : (uint8_t)a->level;
  horus_logring_append(r, level, a->node, a->tick, a->msg, (size_t)a->msg_len);
}

/* An object made by __new__ alone (its __init__ never ran, or failed) has no ring. */
static int logring_live(LogRingObject *self) {
  if (self->r) return 1;
  PyErr_SetString(PyExc_ValueError, "log ring is not open");
  return 0;
}

/* append(level, node, tick, message): never blocks; a long message is cut (and marked). */
static PyObject *LogRing_append(LogRingObject *self, PyObject *const *args, Py_ssize_t nargs) {
  log_args a;
  if (!logring_live(self)) return NULL;
  if (nargs != 4) {
    PyErr_Format(PyExc_TypeError, "append(level, node, tick, message) takes 4 arguments, not %zd", nargs);
    return NULL;
  }
  if (log_args_parse(args, &a) != 0) return NULL;
  log_args_append(self->r, &a);
  log_args_release(&a);
  Py_RETURN_NONE;
}

/* read(next) -> (next, missed, record | None, pending) */
static PyObject *LogRing_read(LogRingObject *self, PyObject *arg) {
  if (!logring_live(self)) return NULL;
  uint64_t next = PyLong_AsUnsignedLongLong(arg), missed = 0;
  if (PyErr_Occurred()) return NULL;
  horus_log_record rec;
  int rc = horus_logring_read(self->r, &next, &missed, &rec);
  if (rc != HORUS_OK) return Py_BuildValue("(KKOO)", next, missed, Py_None, rc == HORUS_ERETRY ? Py_True : Py_False);
  return Py_BuildValue("(KK(KKKIbbss#)O)", next, missed, rec.seq, rec.time_ns, rec.tick, rec.pid, rec.level,
                       rec.truncated, rec.node, rec.msg, (Py_ssize_t)rec.msg_len, Py_False);
}

static PyObject *LogRing_get_head(LogRingObject *self, void *c) {
  (void)c;
  return logring_live(self) ? PyLong_FromUnsignedLongLong(horus_logring_head(self->r)) : NULL;
}
static PyObject *LogRing_get_capacity(LogRingObject *self, void *c) {
  (void)c;
  return logring_live(self) ? PyLong_FromUnsignedLong(horus_logring_capacity(self->r)) : NULL;
}

static PyMethodDef LogRing_methods[] = {
    {"append", (PyCFunction)(void (*)(void))LogRing_append, METH_FASTCALL, "append(level, node, tick, message)"},
    {"read", (PyCFunction)LogRing_read, METH_O, "read(next) -> (next, missed, record | None, pending)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef LogRing_getset[] = {
    {"head", (getter)LogRing_get_head, NULL, "records ever appended", NULL},
    {"capacity", (getter)LogRing_get_capacity, NULL, "records the ring holds", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot LogRing_slots[] = {{Py_tp_init, LogRing_init},
                                      {Py_tp_dealloc, LogRing_dealloc},
                                      {Py_tp_methods, LogRing_methods},
                                      {Py_tp_getset, LogRing_getset},
                                      {Py_tp_new, PyType_GenericNew},
                                      {Py_tp_doc, "LogRing(path, capacity=0, create=True)"},
                                      {0, NULL}};

static PyType_Spec LogRing_spec = {"horus._core.LogRing", sizeof(LogRingObject), 0, Py_TPFLAGS_DEFAULT, LogRing_slots};

/* ---- Stats --------------------------------------------------------------------- */

typedef struct {
  PyObject_HEAD horus_stats *s;
} StatsObject;

/* Stats(path) attaches for reading; Stats(path, scheduler, nodes) creates this process's registry. */
static int Stats_init(StatsObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"path", "scheduler", "nodes", NULL};
  const char *path, *scheduler = NULL;
  unsigned int nodes = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|zI", kwlist, &path, &scheduler, &nodes)) return -1;
  char err[HORUS_ERRLEN] = "";
  int rc = scheduler ? horus_stats_create(path, scheduler, (uint32_t)getpid(), nodes, &self->s, err)
                     : horus_stats_attach(path, &self->s, err);
  if (rc != HORUS_OK) {
    raise_rc(rc, err);
    return -1;
  }
  return 0;
}

static void Stats_dealloc(StatsObject *self) {
  horus_stats_close(self->s);
  free_instance((PyObject *)self);
}

/* An object made by __new__ alone (its __init__ never ran, or failed) has no registry. */
static int stats_live(StatsObject *self) {
  if (self->s) return 1;
  PyErr_SetString(PyExc_ValueError, "stats registry is not open");
  return 0;
}

/* read(i) -> (name, state, health, ticks, errors, misses, overruns, last_ns, avg_ns, max_ns, updated_ns, rate, actual) */
static PyObject *Stats_read(StatsObject *self, PyObject *arg) {
  if (!stats_live(self)) return NULL;
  unsigned long i = PyLong_AsUnsignedLong(arg);
  if (PyErr_Occurred()) return NULL;
  horus_node_stats v;
  horus_stats_read(self->s, (uint32_t)i, &v);
  return Py_BuildValue("(sIIKKKKKKKKdd)", v.name, v.state, v.health, v.total_ticks, v.errors, v.deadline_misses,
                       v.budget_overruns, v.last_tick_ns, v.avg_tick_ns, v.max_tick_ns, v.updated_ns, v.rate_hz,
                       v.actual_rate_hz);
}

static PyObject *Stats_get_nodes(StatsObject *self, void *c) {
  (void)c;
  return stats_live(self) ? PyLong_FromUnsignedLong(horus_stats_nodes(self->s)) : NULL;
}
static PyObject *Stats_get_pid(StatsObject *self, void *c) {
  (void)c;
  return stats_live(self) ? PyLong_FromUnsignedLong(horus_stats_pid(self->s)) : NULL;
}
static PyObject *Stats_get_scheduler(StatsObject *self, void *c) {
  (void)c;
  return stats_live(self) ? PyUnicode_FromString(horus_stats_scheduler(self->s)) : NULL;
}

static PyMethodDef Stats_methods[] = {
    {"read", (PyCFunction)Stats_read, METH_O, "node i's latest consistent stats, as a tuple"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Stats_getset[] = {{"nodes", (getter)Stats_get_nodes, NULL, "node records", NULL},
                                     {"pid", (getter)Stats_get_pid, NULL, "the scheduler's process", NULL},
                                     {"scheduler", (getter)Stats_get_scheduler, NULL, "the scheduler's name", NULL},
                                     {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot Stats_slots[] = {{Py_tp_init, Stats_init},
                                    {Py_tp_dealloc, Stats_dealloc},
                                    {Py_tp_methods, Stats_methods},
                                    {Py_tp_getset, Stats_getset},
                                    {Py_tp_new, PyType_GenericNew},
                                    {Py_tp_doc, "Stats(path, scheduler=None, nodes=0)"},
                                    {0, NULL}};

static PyType_Spec Stats_spec = {"horus._core.Stats", sizeof(StatsObject), 0, Py_TPFLAGS_DEFAULT, Stats_slots};

/* ---- NodeStats: one node's tick statistics, published as they change ---------------- */

static PyTypeObject *StatsType, *LogRingType;
static PyObject *StateNames, *HealthNames; /* tuples of str, indexed by enum horus_state / horus_health */

/*
** Written only by the scheduler thread, always inside one call of a method
** below; every reader (any thread) is a getter or fields(), also one call.
** A method parses its arguments (which may run Python code: __index__,
** __bool__) before it changes anything, and from then on neither releases
** the GIL nor runs Python code until it returns, so a reader holding the GIL
** never sees half of a tick's update. (The Limited API has no free-threaded
** build: the GIL is always there.)
*/
typedef struct {
  PyObject_HEAD horus_tick_stats t;
  PyObject *name;        /* str */
  PyObject *last_error;  /* str: the latest error's description */
  const char *name_utf8; /* owned by name */
  double rate;           /* configured ticks per second */
  StatsObject *registry; /* where every change is published, or NULL */
  uint32_t index;        /* this node's record in registry */
} NodeStatsObject;

/* Show the node's current totals to other processes, if a registry is attached. */
static void node_publish(NodeStatsObject *self) {
  if (!self->registry) return;
  int64_t now = (int64_t)horus_now_ns();
  horus_stats_publish(self->registry->s, self->index, self->name_utf8, self->rate, &self->t, now);
}

/* Valid before __init__ (a subclass may skip it): unnamed, nothing counted, publishing nowhere. */
static PyObject *NodeStats_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args;
  (void)kw;
  NodeStatsObject *self = (NodeStatsObject *)PyType_GenericNew(type, NULL, NULL);
  if (!self) return NULL;
  self->name = PyUnicode_FromString("");
  if (!self->name) {
    Py_DECREF(self);
    return NULL;
  }
  Py_INCREF(self->name);
  self->last_error = self->name;
  self->name_utf8 = "";
  horus_tick_init(&self->t);
  return (PyObject *)self;
}

static int NodeStats_init(NodeStatsObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", "rate", NULL};
  PyObject *name;
  double rate;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "Ud", kwlist, &name, &rate)) return -1;
  const char *utf8 = PyUnicode_AsUTF8AndSize(name, NULL);
  if (!utf8) return -1;
  PyObject *old_name = self->name;
  Py_INCREF(name);
  self->name = name;
  self->name_utf8 = utf8;
  self->rate = rate;
  Py_XDECREF(old_name);
  return 0;
}

static void NodeStats_dealloc(NodeStatsObject *self) {
  Py_XDECREF(self->name);
  Py_XDECREF(self->last_error);
  Py_XDECREF(self->registry);
  free_instance((PyObject *)self);
}

/* record_tick(start_ns, end_ns, ok, missed, over_budget, watchdog): count one tick and publish it. */
static PyObject *NodeStats_record_tick(NodeStatsObject *self, PyObject *const *args, Py_ssize_t nargs) {
  static const unsigned bits[] = {HORUS_TICK_OK, HORUS_TICK_MISSED, HORUS_TICK_OVER_BUDGET, HORUS_TICK_WATCHDOG};
  if (nargs != 6) {
    PyErr_Format(PyExc_TypeError, "record_tick(start_ns, end_ns, ok, missed, over_budget, watchdog) takes 6 "
                 "arguments, not %zd", nargs);
    return NULL;
  }
  long long start = PyLong_AsLongLong(args[0]);
  if (start == -1 && PyErr_Occurred()) return NULL;
  long long end = PyLong_AsLongLong(args[1]);
  if (end == -1 && PyErr_Occurred()) return NULL;
  unsigned flags = 0;
  for (int k = 0; k < 4; k++) {
    int set = PyObject_IsTrue(args[2 + k]);
    if (set < 0) return NULL;
    if (set) flags |= bits[k];
  }
  horus_tick_record(&self->t, start, end, flags);
  node_publish(self);
  Py_RETURN_NONE;
}

/* record_error(message): count an error of a tick or init; message is kept as last_error. */
static PyObject *NodeStats_record_error(NodeStatsObject *self, PyObject *message) {
  if (!PyUnicode_Check(message)) {
    PyErr_SetString(PyExc_TypeError, "record_error takes the error's description (str)");
    return NULL;
  }
  PyObject *old = self->last_error;
  Py_INCREF(message);
  self->last_error = message;
  horus_tick_error(&self->t);
  node_publish(self);
  Py_DECREF(old); /* a str: freeing it runs no Python code */
  Py_RETURN_NONE;
}

/* set_state(state): one of horus._core.STATES. */
static PyObject *NodeStats_set_state(NodeStatsObject *self, PyObject *state) {
  for (Py_ssize_t i = 0; i < HORUS_STATE_COUNT; i++) {
    int eq = PyObject_RichCompareBool(state, PyTuple_GetItem(StateNames, i), Py_EQ);
    if (eq < 0) return NULL;
    if (eq) {
      self->t.state = (uint32_t)i;
      node_publish(self);
      Py_RETURN_NONE;
    }
  }
  PyErr_Format(PyExc_ValueError, "unknown node state %R: one of %R", state, StateNames);
  return NULL;
}

static PyObject *name_of(PyObject *names, uint32_t code) {
  PyObject *name = PyTuple_GetItem(names, code);
  Py_XINCREF(name);
  return name;
}

/* health(now_ns=None): one of horus._core.HEALTHS, at now_ns (default: now). */
static PyObject *NodeStats_health(NodeStatsObject *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "health(now_ns=None) takes at most one argument");
    return NULL;
  }
  int64_t now = (int64_t)horus_now_ns();
  if (nargs == 1 && args[0] != Py_None) {
    now = PyLong_AsLongLong(args[0]);
    if (PyErr_Occurred()) return NULL;
  }
  return name_of(HealthNames, horus_tick_health(&self->t, now));
}

/* fields() -> dict: every total at one instant, for snapshot(). */
static PyObject *NodeStats_fields(NodeStatsObject *self, PyObject *unused) {
  (void)unused;
  /* Copy first: building the dict allocates, and a collection it triggers may run
  ** Python code that lets the scheduler thread tick in between. */
  horus_tick_stats t = self->t;
  PyObject *last_error = self->last_error;
  Py_INCREF(last_error);
  PyObject *state = name_of(StateNames, t.state);
  PyObject *health = name_of(HealthNames, horus_tick_health(&t, (int64_t)horus_now_ns()));
  PyObject *out = NULL;
  double n = (double)t.total_ticks;
  if (state && health)
    out = Py_BuildValue("{s:O,s:O,s:d,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:d,s:d,s:d,s:d,s:O}", "state", state,
                        "health", health, "actual_rate_hz", t.rate_ewma, "total_ticks", t.total_ticks,
                        "successful_ticks", t.successful_ticks, "failed_ticks", t.failed_ticks, "errors_count",
                        t.errors, "consecutive_failures", t.consecutive_failures, "deadline_misses",
                        t.deadline_misses, "budget_overruns", t.budget_overruns, "watchdog_expirations",
                        t.watchdog_expirations, "restarts", t.restarts, "avg_tick_duration_ms",
                        n ? (double)t.sum_ns / n / 1e6 : 0.0, "min_tick_duration_ms", (double)t.min_ns / 1e6,
                        "max_tick_duration_ms", (double)t.max_ns / 1e6, "last_tick_duration_ms",
                        (double)t.last_ns / 1e6, "last_error", last_error);
  Py_XDECREF(state);
  Py_XDECREF(health);
  Py_DECREF(last_error);
  return out;
}

/* publish_to(registry, index): publish to record `index` of a Stats registry from now on (None: stop). */
static PyObject *NodeStats_publish_to(NodeStatsObject *self, PyObject *args) {
  PyObject *registry;
  unsigned int index = 0;
  if (!PyArg_ParseTuple(args, "O|I", &registry, &index)) return NULL;
  if (registry != Py_None && !PyObject_TypeCheck(registry, StatsType)) {
    PyErr_SetString(PyExc_TypeError, "publish_to takes a horus._core.Stats registry this process created, or None");
    return NULL;
  }
  StatsObject *old = self->registry;
  self->registry = registry == Py_None ? NULL : (StatsObject *)registry;
  Py_XINCREF(self->registry);
  self->index = index;
  node_publish(self);
  Py_XDECREF(old);
  Py_RETURN_NONE;
}

static PyObject *NodeStats_get_state(NodeStatsObject *self, void *c) {
  (void)c;
  return name_of(StateNames, self->t.state);
}

#define TOTAL(field, name, doc) {name, T_ULONGLONG, offsetof(NodeStatsObject, t.field), READONLY, doc}
#define NANOS(field, doc) {#field, T_LONGLONG, offsetof(NodeStatsObject, t.field), READONLY, doc}

static PyMemberDef NodeStats_members[] = {
    {"name", T_OBJECT, offsetof(NodeStatsObject, name), READONLY, "the node's name"},
    {"rate", T_DOUBLE, offsetof(NodeStatsObject, rate), READONLY, "configured ticks per second"},
    {"last_error", T_OBJECT, offsetof(NodeStatsObject, last_error), READONLY, "the latest error, described"},
    TOTAL(total_ticks, "total_ticks", "ticks run, successful or not"),
    TOTAL(successful_ticks, "successful_ticks", "ticks that returned"),
    TOTAL(failed_ticks, "failed_ticks", "ticks that raised"),
    TOTAL(errors, "errors_count", "errors of ticks and inits"),
    TOTAL(consecutive_failures, "consecutive_failures", "errors since the last successful tick"),
    TOTAL(deadline_misses, "deadline_misses", "ticks that ended past their deadline"),
    TOTAL(budget_overruns, "budget_overruns", "ticks longer than their budget"),
    TOTAL(watchdog_expirations, "watchdog_expirations", "ticks that ran past the watchdog"),
    {"restarts", T_ULONGLONG, offsetof(NodeStatsObject, t.restarts), 0, "restarts by the failure policy"},
    NANOS(sum_ns, "total tick time"),
    NANOS(min_ns, "shortest tick"),
    NANOS(max_ns, "longest tick"),
    NANOS(last_ns, "latest tick's duration"),
    {"rate_ewma", T_DOUBLE, offsetof(NodeStatsObject, t.rate_ewma), READONLY, "achieved ticks per second"},
    {NULL, 0, 0, 0, NULL}};

static PyMethodDef NodeStats_methods[] = {
    {"record_tick", (PyCFunction)(void (*)(void))NodeStats_record_tick, METH_FASTCALL,
     "record_tick(start_ns, end_ns, ok, missed, over_budget, watchdog): count one tick and publish it"},
    {"record_error", (PyCFunction)NodeStats_record_error, METH_O, "record_error(message): count one error"},
    {"set_state", (PyCFunction)NodeStats_set_state, METH_O, "set_state(state): one of STATES"},
    {"health", (PyCFunction)(void (*)(void))NodeStats_health, METH_FASTCALL,
     "health(now_ns=None): one of HEALTHS, from the state, failures and recent deadline misses"},
    {"fields", (PyCFunction)NodeStats_fields, METH_NOARGS, "fields() -> dict: every total at one instant"},
    {"publish_to", (PyCFunction)NodeStats_publish_to, METH_VARARGS,
     "publish_to(registry, index=0): publish every change to that Stats record (None: stop)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef NodeStats_getset[] = {
    {"state", (getter)NodeStats_get_state, NULL, "one of STATES", NULL}, {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot NodeStats_slots[] = {{Py_tp_init, NodeStats_init},
                                        {Py_tp_dealloc, NodeStats_dealloc},
                                        {Py_tp_methods, NodeStats_methods},
                                        {Py_tp_members, NodeStats_members},
                                        {Py_tp_getset, NodeStats_getset},
                                        {Py_tp_new, NodeStats_new},
                                        {Py_tp_doc, "NodeStats(name, rate): one node's tick statistics"},
                                        {0, NULL}};

static PyType_Spec NodeStats_spec = {"horus._core.NodeStats", sizeof(NodeStatsObject), 0,
                                     Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, NodeStats_slots};

/* ---- Journal -------------------------------------------------------------------- */

/*
** Journal(fd, path, identifier): records to journald's socket at path (bytes)
** over the caller's AF_UNIX datagram socket fd, which stays the caller's to
** close (call close() first: this object then never touches that number
** again). Counters change only while the GIL is held, so threads may share it.
*/
typedef struct {
  PyObject_HEAD int fd;
  PyObject *path, *identifier; /* bytes */
  unsigned long long sent, dropped;
} JournalObject;

static int Journal_init(JournalObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"fd", "path", "identifier", NULL};
  int fd;
  PyObject *path, *identifier;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "iSS", kwlist, &fd, &path, &identifier)) return -1;
  PyObject *old_path = self->path, *old_identifier = self->identifier; /* __init__ may run again */
  Py_INCREF(path);
  Py_INCREF(identifier);
  self->path = path;
  self->identifier = identifier;
  Py_XDECREF(old_path);
  Py_XDECREF(old_identifier);
  self->fd = fd;
  return 0;
}

static void Journal_dealloc(JournalObject *self) {
  Py_XDECREF(self->path);
  Py_XDECREF(self->identifier);
  free_instance((PyObject *)self);
}

/* Attribute names of frames and code objects, interned once at import. */
static PyObject *str_f_code, *str_f_lineno, *str_co_filename, *str_co_name;

/* A record's arguments: (level, node, tick, message, pid, frame | None); CODE_* come from frame. */
typedef struct {
  log_args a;
  horus_journal_record rec;
  PyObject *file, *func, *keep_file, *keep_func;
} journal_args;

static void journal_args_release(journal_args *j) {
  log_args_release(&j->a);
  Py_XDECREF(j->file);
  Py_XDECREF(j->func);
  Py_XDECREF(j->keep_file);
  Py_XDECREF(j->keep_func);
}

/* CODE_FILE, CODE_LINE, CODE_FUNC of a frame (any object with f_code and f_lineno will do). */
static int journal_code(PyObject *frame, journal_args *j) {
  horus_journal_record *r = &j->rec;
  PyObject *code = PyObject_GetAttr(frame, str_f_code), *line = PyObject_GetAttr(frame, str_f_lineno);
  if (code) j->file = PyObject_GetAttr(code, str_co_filename);
  if (code) j->func = PyObject_GetAttr(code, str_co_name);
  Py_XDECREF(code);
  /* f_lineno is None where a frame has no line (never for one that is running a call): 0. */
  r->code_line = line && line != Py_None ? PyLong_AsLongLong(line) : 0;
  Py_XDECREF(line);
  if (!code || !line || !j->file || !j->func || (r->code_line == -1 && PyErr_Occurred())) return -1;
  Py_ssize_t file_len, func_len;
  if (!(r->code_file = text_utf8(j->file, &file_len, &j->keep_file))) return -1;
  if (!(r->code_func = text_utf8(j->func, &func_len, &j->keep_func))) return -1;
  r->code_file_len = (size_t)file_len, r->code_func_len = (size_t)func_len;
  return 0;
}

static int journal_args_parse(JournalObject *self, PyObject *const *args, journal_args *j) {
  memset(j, 0, sizeof *j);
  if (!self->identifier) {
    PyErr_SetString(PyExc_ValueError, "Journal.__init__ was not called");
    return -1;
  }
  if (log_args_parse(args, &j->a) != 0) return -1;
  horus_journal_record *r = &j->rec;
  r->level = j->a.level;
  r->tick = j->a.tick;
  r->node = j->a.node, r->node_len = (size_t)j->a.node_len;
  r->message = j->a.msg, r->message_len = (size_t)j->a.msg_len;
  r->identifier = PyBytes_AsString(self->identifier);
  r->identifier_len = (size_t)PyBytes_Size(self->identifier);
  r->pid = PyLong_AsLongLong(args[4]);
  if ((r->pid != -1 || !PyErr_Occurred()) && (args[5] == Py_None || journal_code(args[5], j) == 0)) return 0;
  journal_args_release(j);
  return -1;
}

/*
** send(ring, level, node, tick, message, pid, frame) -> errno:
** append the record to ring (a LogRing, or None), then send it to journald.
** 0: sent, counted. EMSGSIZE/ENOBUFS: too large for a datagram, not counted
** (the caller sends it as a memfd, then calls count()). Any other errno:
** dropped and counted. The GIL stays held: the send never blocks.
*/
static PyObject *Journal_send(JournalObject *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 7) {
    PyErr_Format(PyExc_TypeError, "send(ring, level, node, tick, message, pid, frame) takes 7 arguments, not %zd",
                 nargs);
    return NULL;
  }
  if (args[0] != Py_None && !PyObject_TypeCheck(args[0], LogRingType)) {
    PyErr_SetString(PyExc_TypeError, "send takes a horus._core.LogRing or None");
    return NULL;
  }
  journal_args j;
  if (journal_args_parse(self, args + 1, &j) != 0) return NULL;
  if (args[0] != Py_None) log_args_append(((LogRingObject *)args[0])->r, &j.a);
  int err = 0;
  if (self->fd < 0) {
    err = EBADF;
  } else if (horus_journal_send(self->fd, PyBytes_AsString(self->path), (size_t)PyBytes_Size(self->path), &j.rec) !=
             HORUS_OK) {
    err = errno;
  }
  journal_args_release(&j);
  if (err == 0) self->sent++;
  else if (err != EMSGSIZE && err != ENOBUFS) self->dropped++;
  return PyLong_FromLong(err);
}

/* encode(level, node, tick, message, pid, frame) -> bytes: the datagram send() builds. */
static PyObject *Journal_encode(JournalObject *self, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 6) {
    PyErr_Format(PyExc_TypeError, "encode(level, node, tick, message, pid, frame) takes 6 arguments, not %zd", nargs);
    return NULL;
  }
  journal_args j;
  if (journal_args_parse(self, args, &j) != 0) return NULL;
  size_t len = horus_journal_encode(NULL, 0, &j.rec);
  PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
  if (out) (void)horus_journal_encode(PyBytes_AsString(out), len, &j.rec);
  journal_args_release(&j);
  return out;
}

/* count(ok): count a record the caller delivered (True) or lost (False) by other means. */
static PyObject *Journal_count(JournalObject *self, PyObject *ok) {
  int truth = PyObject_IsTrue(ok);
  if (truth < 0) return NULL;
  if (truth) self->sent++;
  else self->dropped++;
  Py_RETURN_NONE;
}

static PyObject *Journal_close(JournalObject *self, PyObject *unused) {
  (void)unused;
  self->fd = -1;
  Py_RETURN_NONE;
}

static PyMemberDef Journal_members[] = {
    {"sent", T_ULONGLONG, offsetof(JournalObject, sent), READONLY, "records journald's queue took"},
    {"dropped", T_ULONGLONG, offsetof(JournalObject, dropped), READONLY, "records lost (queue full, no journald)"},
    {NULL, 0, 0, 0, NULL}};

static PyMethodDef Journal_methods[] = {
    {"send", (PyCFunction)(void (*)(void))Journal_send, METH_FASTCALL,
     "send(ring, level, node, tick, message, pid, frame) -> errno (0: sent)"},
    {"encode", (PyCFunction)(void (*)(void))Journal_encode, METH_FASTCALL,
     "encode(level, node, tick, message, pid, frame) -> bytes"},
    {"count", (PyCFunction)Journal_count, METH_O, "count(ok): count one record sent (True) or dropped"},
    {"close", (PyCFunction)Journal_close, METH_NOARGS, "forget the socket: later sends drop with EBADF"},
    {NULL, NULL, 0, NULL}};

static PyType_Slot Journal_slots[] = {{Py_tp_init, Journal_init},
                                      {Py_tp_dealloc, Journal_dealloc},
                                      {Py_tp_methods, Journal_methods},
                                      {Py_tp_members, Journal_members},
                                      {Py_tp_new, PyType_GenericNew},
                                      {Py_tp_doc, "Journal(fd, path, identifier): records to journald"},
                                      {0, NULL}};

static PyType_Spec Journal_spec = {"horus._core.Journal", sizeof(JournalObject), 0, Py_TPFLAGS_DEFAULT, Journal_slots};

/* ---- Functions ----------------------------------------------------------------- */

static PyObject *fn_now_ns(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  return PyLong_FromUnsignedLongLong(horus_now_ns());
}

/* sleep_until(deadline_ns): GIL released; signals are handled in Python, then the sleep resumes. */
static PyObject *fn_sleep_until(PyObject *m, PyObject *arg) {
  (void)m;
  unsigned long long deadline = PyLong_AsUnsignedLongLong(arg);
  if (PyErr_Occurred()) return NULL;
  for (;;) {
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = horus_sleep_until((uint64_t)deadline);
    Py_END_ALLOW_THREADS if (rc == HORUS_OK) Py_RETURN_NONE;
    if (errno != EINTR) return PyErr_SetFromErrno(PyExc_OSError);
    if (PyErr_CheckSignals() != 0) return NULL;
  }
}

/* sleep_until_spin(deadline_ns, spin_ns) -> how late the sleep part woke (horus.h). Signals as sleep_until. */
static PyObject *fn_sleep_until_spin(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "sleep_until_spin(deadline_ns, spin_ns)");
    return NULL;
  }
  unsigned long long deadline = PyLong_AsUnsignedLongLong(args[0]);
  if (PyErr_Occurred()) return NULL;
  unsigned long long spin = PyLong_AsUnsignedLongLong(args[1]);
  if (PyErr_Occurred()) return NULL;
  for (;;) {
    int rc;
    uint64_t overslept = 0;
    Py_BEGIN_ALLOW_THREADS rc = horus_sleep_until_spin((uint64_t)deadline, (uint64_t)spin, &overslept);
    Py_END_ALLOW_THREADS if (rc == HORUS_OK) return PyLong_FromUnsignedLongLong(overslept);
    if (errno != EINTR) return PyErr_SetFromErrno(PyExc_OSError);
    if (PyErr_CheckSignals() != 0) return NULL;
  }
}

static PyObject *fn_timer_slack_min(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  horus_timer_slack_min();
  Py_RETURN_NONE;
}

static PyObject *fn_keep_heap(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  return PyBool_FromLong(horus_keep_heap() == HORUS_OK);
}

static PyObject *fn_lock_memory(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  if (horus_lock_memory() != HORUS_OK) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

/*
** log_line(ring, level, node, tick, message): append the record to ring (a
** LogRing, or None) and write it to fd 2 as "[LEVEL] node: message\n", in one
** call. For horus.observability.log when sys.stderr is the process's own, unbuffered or
** just flushed. The GIL is released for the write, which blocks while a
** reader of a full pipe lags, as sys.stderr's would.
*/
static PyObject *fn_log_line(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  (void)m;
  if (nargs != 5) {
    PyErr_Format(PyExc_TypeError, "log_line(ring, level, node, tick, message) takes 5 arguments, not %zd", nargs);
    return NULL;
  }
  if (args[0] != Py_None && !PyObject_TypeCheck(args[0], LogRingType)) {
    PyErr_SetString(PyExc_TypeError, "log_line takes a horus._core.LogRing or None");
    return NULL;
  }
  log_args a;
  if (log_args_parse(args + 1, &a) != 0) return NULL;
  if (args[0] != Py_None) log_args_append(((LogRingObject *)args[0])->r, &a);
  Py_BEGIN_ALLOW_THREADS
  /* A full disk or a closed stderr drops the line: a log call never fails a tick. */
  (void)horus_log_write_line(2, a.level, a.node, (size_t)a.node_len, a.msg, (size_t)a.msg_len);
  Py_END_ALLOW_THREADS
  log_args_release(&a);
  Py_RETURN_NONE;
}

static PyObject *fn_ns_prepare(PyObject *m, PyObject *arg) {
  (void)m;
  const char *path = PyUnicode_AsUTF8AndSize(arg, NULL);
  if (!path) return NULL;
  char err[HORUS_ERRLEN] = "";
  int rc = horus_ns_prepare(path, err);
  if (rc != HORUS_OK) {
    PyObject *args = Py_BuildValue("(is)", errno, err);
    if (args) {
      PyErr_SetObject(PyExc_PermissionError, args);
      Py_DECREF(args);
    }
    return NULL;
  }
  Py_RETURN_NONE;
}

static PyObject *fn_segment_in_use(PyObject *m, PyObject *arg) {
  (void)m;
  const char *path = PyUnicode_AsUTF8AndSize(arg, NULL);
  if (!path) return NULL;
  int rc = horus_segment_in_use(path);
  if (rc < 0) return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
  return PyBool_FromLong(rc);
}

/* subscribe_fd(fd) -> bool: a subscriber's lock on a descriptor of a topic's file (horus_file_subscribe). */
static PyObject *fn_subscribe_fd(PyObject *m, PyObject *arg) {
  (void)m;
  int fd = PyObject_AsFileDescriptor(arg);
  if (fd < 0) return NULL;
  return PyBool_FromLong(horus_file_subscribe(fd) == 0);
}

/* publisher_claimed(fd) -> bool (horus_file_claimed); OSError when the kernel cannot say. */
static PyObject *fn_publisher_claimed(PyObject *m, PyObject *arg) {
  (void)m;
  int fd = PyObject_AsFileDescriptor(arg);
  if (fd < 0) return NULL;
  int rc = horus_file_claimed(fd);
  if (rc < 0) return PyErr_SetFromErrno(PyExc_OSError);
  return PyBool_FromLong(rc);
}

static PyMethodDef module_methods[] = {
    {"now_ns", fn_now_ns, METH_NOARGS, "CLOCK_MONOTONIC in nanoseconds"},
    {"sleep_until", fn_sleep_until, METH_O, "sleep_until(deadline_ns): absolute monotonic sleep, GIL released"},
    {"sleep_until_spin", (PyCFunction)(void (*)(void))fn_sleep_until_spin, METH_FASTCALL,
     "sleep_until_spin(deadline_ns, spin_ns) -> overslept_ns: sleep, then spin the last spin_ns; GIL released"},
    {"timer_slack_min", fn_timer_slack_min, METH_NOARGS, "lower this thread's timer slack to 1 ns"},
    {"keep_heap", fn_keep_heap, METH_NOARGS, "keep freed heap memory in the process (glibc mallopt)"},
    {"lock_memory", fn_lock_memory, METH_NOARGS, "mlockall(MCL_CURRENT|MCL_FUTURE); OSError if refused"},
    {"ns_prepare", fn_ns_prepare, METH_O, "create/check a private (0700) namespace directory"},
    {"segment_in_use", fn_segment_in_use, METH_O, "True if a live process holds the segment"},
    {"subscribe_fd", fn_subscribe_fd, METH_O, "take a subscriber's lock on a descriptor of a topic's file"},
    {"publisher_claimed", fn_publisher_claimed, METH_O, "True if the topic's file has a publisher's claim"},
    {"log_line", (PyCFunction)(void (*)(void))fn_log_line, METH_FASTCALL,
     "log_line(ring, level, node, tick, message): append to ring (or None) and write the line to fd 2"},
    {NULL, NULL, 0, NULL}};

/* The names of enum horus_state and enum horus_health, in order: horus/observability/registry.py shows these. */
static const char *const state_names[HORUS_STATE_COUNT] = {"created",    "initializing", "running", "suspended",
                                                           "restarting", "failed",       "stopped"};
static const char *const health_names[HORUS_HEALTH_COUNT] = {"starting",  "healthy", "warning",
                                                             "unhealthy", "failed",  "stopped"};

static PyObject *names_tuple(const char *const *names, Py_ssize_t n) {
  PyObject *t = PyTuple_New(n);
  for (Py_ssize_t i = 0; t && i < n; i++) {
    PyObject *name = PyUnicode_InternFromString(names[i]);
    if (!name || PyTuple_SetItem(t, i, name) != 0) {
      Py_DECREF(t);
      return NULL;
    }
  }
  return t;
}

static int add_int(PyObject *m, const char *name, long v) { return PyModule_AddIntConstant(m, name, v); }

static int module_exec(PyObject *m) {
  PyObject *errors = PyImport_ImportModule("horus.errors");
  if (!errors) return -1;
  TopicLayoutError = PyObject_GetAttrString(errors, "TopicLayoutError");
  TopicBusyError = PyObject_GetAttrString(errors, "TopicBusyError");
  MessageTooLargeError = PyObject_GetAttrString(errors, "MessageTooLargeError");
  TopicCorruptError = PyObject_GetAttrString(errors, "TopicCorruptError");
  Py_DECREF(errors);
  if (!TopicLayoutError || !TopicBusyError || !MessageTooLargeError || !TopicCorruptError) return -1;
  TopicType = (PyTypeObject *)PyType_FromSpec(&Topic_spec);
  if (!TopicType || PyModule_AddObject(m, "Topic", (PyObject *)TopicType) != 0) return -1;
  if (pycodec_init(m) != 0) return -1;
  Py_INCREF(TopicType); /* the module's reference went to PyModule_AddObject */
  const struct {
    const char *name;
    PyType_Spec *spec;
    PyTypeObject **keep; /* a reference this module keeps, for type checks */
  } types[] = {{"Cursor", &Cursor_spec, NULL},
               {"LogRing", &LogRing_spec, &LogRingType},
               {"Stats", &Stats_spec, &StatsType},
               {"NodeStats", &NodeStats_spec, NULL},
               {"Journal", &Journal_spec, NULL},
               {"ShmGuard", &ShmGuard_spec, NULL}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    PyObject *type = PyType_FromSpec(types[i].spec);
    if (!type) return -1;
    if (types[i].keep) {
      Py_INCREF(type);
      *types[i].keep = (PyTypeObject *)type;
    }
    if (PyModule_AddObject(m, types[i].name, type) != 0) return -1;
  }
  if (!(str_f_code = PyUnicode_InternFromString("f_code")) || !(str_f_lineno = PyUnicode_InternFromString("f_lineno")) ||
      !(str_co_filename = PyUnicode_InternFromString("co_filename")) ||
      !(str_co_name = PyUnicode_InternFromString("co_name")))
    return -1;
  StateNames = names_tuple(state_names, HORUS_STATE_COUNT);
  HealthNames = names_tuple(health_names, HORUS_HEALTH_COUNT);
  if (!StateNames || !HealthNames) return -1;
  Py_INCREF(StateNames);
  Py_INCREF(HealthNames);
  if (PyModule_AddObject(m, "STATES", StateNames) != 0 || PyModule_AddObject(m, "HEALTHS", HealthNames) != 0)
    return -1;
  if (add_int(m, "DEFAULT_SLOT_SIZE", HORUS_DEFAULT_SLOT_SIZE) || add_int(m, "DEFAULT_CAPACITY", HORUS_DEFAULT_CAPACITY) ||
      add_int(m, "MAX_SLOT_SIZE", HORUS_MAX_SLOT_SIZE) || add_int(m, "TOPIC_VERSION", HORUS_TOPIC_VERSION) ||
      add_int(m, "SUBSCRIBER_BYTE", HORUS_SUBSCRIBER_BYTE))
    return -1;
  return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "horus._core", "HORUS native core: shared-memory topics and precise timing.", 0,
    module_methods,        module_slots,  NULL,                                                            NULL,
    NULL};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&module_def); }
