/*
** module.c: horus._core, the CPython face of the native core (Limited API, abi3, 3.10+).
**
** Thin on purpose: argument parsing, GIL handling and error mapping. The
** exception classes live in horus/errors.py so Python code can document and
** catch them; this module looks them up once at import.
*/
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030A0000
#include <Python.h>

#include <errno.h>
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
  PyTypeObject *tp = Py_TYPE(self);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
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
  PyTypeObject *tp = Py_TYPE(self);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
}

/* recv() -> bytearray | None: the next message, copied out whole (never torn). */
static PyObject *Cursor_recv(CursorObject *self, PyObject *unused) {
  (void)unused;
  horus_topic *t = cursor_topic(self);
  if (!t) return NULL;
  for (;;) {
    horus_msg_view v;
    if (horus_topic_peek(t, &self->c, &v) == HORUS_EMPTY) Py_RETURN_NONE;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)v.len);
    if (!out) return NULL;
    memcpy(PyByteArray_AsString(out), v.data, v.len);
    if (horus_topic_confirm(t, &self->c, &v) == HORUS_OK) return out;
    Py_DECREF(out); /* overwritten while copying: peek again */
  }
}

/* wait(timeout_s, spin_s) -> bool: block (GIL released) until a message is ready or the timeout passes. */
static PyObject *Cursor_wait(CursorObject *self, PyObject *args) {
  double timeout, spin;
  if (!PyArg_ParseTuple(args, "dd", &timeout, &spin)) return NULL;
  horus_topic *t = cursor_topic(self);
  if (!t) return NULL;
  uint64_t deadline = horus_now_ns() + (uint64_t)(timeout * 1e9);
  for (;;) {
    uint64_t now = horus_now_ns();
    uint64_t left = now < deadline ? deadline - now : 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = horus_topic_wait(t, &self->c, (uint64_t)(spin * 1e9), left);
    Py_END_ALLOW_THREADS if (rc == HORUS_OK) Py_RETURN_TRUE;
    if (rc == HORUS_EMPTY) Py_RETURN_FALSE;
    if (PyErr_CheckSignals() != 0) return NULL; /* EINTR: run Python's handlers, then wait on */
  }
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
    {"recv", (PyCFunction)Cursor_recv, METH_NOARGS, "recv() -> bytearray | None: the next message"},
    {"ready", (PyCFunction)Cursor_ready, METH_NOARGS, "ready() -> bool: a message is waiting (not consumed)"},
    {"wait", (PyCFunction)Cursor_wait, METH_VARARGS, "wait(timeout_s, spin_s) -> bool: a message became ready"},
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
  PyTypeObject *tp = Py_TYPE(self);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
}

/* append(level, node, tick, message): never blocks; a long message is cut (and marked). */
static PyObject *LogRing_append(LogRingObject *self, PyObject *args) {
  unsigned char level;
  const char *node, *msg;
  unsigned long long tick;
  Py_ssize_t len;
  if (!PyArg_ParseTuple(args, "bsKs#", &level, &node, &tick, &msg, &len)) return NULL;
  horus_logring_append(self->r, level, node, tick, msg, (size_t)len);
  Py_RETURN_NONE;
}

/* read(next) -> (next, missed, record | None, pending) */
static PyObject *LogRing_read(LogRingObject *self, PyObject *arg) {
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
  return PyLong_FromUnsignedLongLong(horus_logring_head(self->r));
}
static PyObject *LogRing_get_capacity(LogRingObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLong(horus_logring_capacity(self->r));
}

static PyMethodDef LogRing_methods[] = {
    {"append", (PyCFunction)LogRing_append, METH_VARARGS, "append(level, node, tick, message)"},
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
  PyTypeObject *tp = Py_TYPE(self);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
}

/* update(i, name, state, health, ticks, errors, misses, overruns, last_ns, avg_ns, max_ns, rate, actual_rate) */
static PyObject *Stats_update(StatsObject *self, PyObject *args) {
  horus_node_stats v;
  memset(&v, 0, sizeof v);
  unsigned int i;
  const char *name;
  if (!PyArg_ParseTuple(args, "IsIIKKKKKKKdd", &i, &name, &v.state, &v.health, &v.total_ticks, &v.errors,
                        &v.deadline_misses, &v.budget_overruns, &v.last_tick_ns, &v.avg_tick_ns, &v.max_tick_ns,
                        &v.rate_hz, &v.actual_rate_hz))
    return NULL;
  strncpy(v.name, name, HORUS_STATS_NAME_MAX);
  v.updated_ns = horus_now_ns();
  horus_stats_update(self->s, i, &v);
  Py_RETURN_NONE;
}

/* read(i) -> (name, state, health, ticks, errors, misses, overruns, last_ns, avg_ns, max_ns, updated_ns, rate, actual) */
static PyObject *Stats_read(StatsObject *self, PyObject *arg) {
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
  return PyLong_FromUnsignedLong(horus_stats_nodes(self->s));
}
static PyObject *Stats_get_pid(StatsObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLong(horus_stats_pid(self->s));
}
static PyObject *Stats_get_scheduler(StatsObject *self, void *c) {
  (void)c;
  return PyUnicode_FromString(horus_stats_scheduler(self->s));
}

static PyMethodDef Stats_methods[] = {
    {"update", (PyCFunction)Stats_update, METH_VARARGS, "publish node i's stats (the scheduler thread only)"},
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

static PyMethodDef module_methods[] = {
    {"now_ns", fn_now_ns, METH_NOARGS, "CLOCK_MONOTONIC in nanoseconds"},
    {"sleep_until", fn_sleep_until, METH_O, "sleep_until(deadline_ns): absolute monotonic sleep, GIL released"},
    {"timer_slack_min", fn_timer_slack_min, METH_NOARGS, "lower this thread's timer slack to 1 ns"},
    {"keep_heap", fn_keep_heap, METH_NOARGS, "keep freed heap memory in the process (glibc mallopt)"},
    {"lock_memory", fn_lock_memory, METH_NOARGS, "mlockall(MCL_CURRENT|MCL_FUTURE); OSError if refused"},
    {"ns_prepare", fn_ns_prepare, METH_O, "create/check a private (0700) namespace directory"},
    {"segment_in_use", fn_segment_in_use, METH_O, "True if a live process holds the segment"},
    {NULL, NULL, 0, NULL}};

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
  Py_INCREF(TopicType); /* the module's reference went to PyModule_AddObject */
  const struct {
    const char *name;
    PyType_Spec *spec;
  } types[] = {{"Cursor", &Cursor_spec}, {"LogRing", &LogRing_spec}, {"Stats", &Stats_spec}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    PyObject *type = PyType_FromSpec(types[i].spec);
    if (!type || PyModule_AddObject(m, types[i].name, type) != 0) return -1;
  }
  if (add_int(m, "DEFAULT_SLOT_SIZE", HORUS_DEFAULT_SLOT_SIZE) || add_int(m, "DEFAULT_CAPACITY", HORUS_DEFAULT_CAPACITY) ||
      add_int(m, "MAX_SLOT_SIZE", HORUS_MAX_SLOT_SIZE) || add_int(m, "TOPIC_VERSION", HORUS_TOPIC_VERSION))
    return -1;
  return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "horus._core", "HORUS native core: shared-memory topics and precise timing.", 0,
    module_methods,        module_slots,  NULL,                                                            NULL,
    NULL};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&module_def); }
