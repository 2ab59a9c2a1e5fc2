/*
** pycodec.c: the payload codec's fast paths (contract in pycodec.h; the format is horus/messaging/codec.py's).
**
** Hostile bytes: a payload is whatever a process of the user wrote into shared memory. It is
** decoded only from a private copy taken under the seqlock (module.c), every length is
** checked against the bytes left before it is used, a count cannot ask for more items than
** bytes remain (each item takes one at least), nesting stops at codec.py's depth, and a dict
** with more keys whose hashes a sender can steer than codec.py allows is declined (codec.py
** refuses it: building it would be quadratic). Anything unexpected declines; codec.py then
** says what is wrong. A MessageLayout's offsets are checked against its size when it is made,
** so a message is read and written only within its bytes.
*/
#include "pycodec.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the payload format is little-endian, and so is this code: every HORUS robot CPU is"
#endif

/* codec.py's _MAX_DEPTH, _MAX_STEERABLE_KEYS and _SELF_HASHING: keep them equal. */
#define MAX_DEPTH 64
#define MAX_STEERABLE_KEYS 256
#define SELF_HASHING ((long long)(((uint64_t)1 << 61) - 2))
/* A typed message's header after its tag: u32 type id, u64 layout hash. */
#define MSG_HEADER 12

/* ---- MessageLayout: a message class's fields of numbers and texts, where they lie in its bytes ---- */

typedef struct {
  char code;       /* a number's struct code (? B b H h I i Q q f d), or s: text */
  uint32_t offset; /* of the value, or of the first item */
  uint32_t count;  /* 0: one value; N: T[N] (always N items), or T[..N] / str[W][..N] (at most N) */
  uint32_t width;  /* a text's bytes (str[N]: N; str[W][..N]: W), its UTF-8 padded with NULs; 0: a number */
  int32_t len_at;  /* a bounded list's u16 length, its offset; -1 for every other field */
  PyObject *descr; /* the class's slot for the field (a member descriptor) */
  descrgetfunc get;
  descrsetfunc set;
} layout_field;

typedef struct {
  PyObject_HEAD PyObject *cls;
  uint32_t type_id, size;
  uint64_t layout_hash;
  Py_ssize_t nfields;
  layout_field *fields;
} LayoutObject;

static PyTypeObject *LayoutType;
static PyObject *Layouts;    /* dict: type id (int) -> the MessageLayout of the class a payload becomes */
static PyObject *EmptyTuple; /* the arguments of a message's __new__ */
static PyObject *str_layout; /* "_LAYOUT": the class attribute that holds a class's MessageLayout */

static size_t code_size(char code) {
  switch (code) {
  case '?': case 'B': case 'b': return 1;
  case 'H': case 'h': return 2;
  case 'I': case 'i': case 'f': return 4;
  case 'Q': case 'q': case 'd': return 8;
  default: return 0;
  }
}

static void layout_clear_fields(LayoutObject *self) {
  for (Py_ssize_t i = 0; i < self->nfields; i++) Py_CLEAR(self->fields[i].descr);
  PyMem_Free(self->fields);
  self->fields = NULL;
  self->nfields = 0;
}

/* Bytes of one item (a number or a text) of field f. */
static size_t item_size(const layout_field *f) { return f->width ? f->width : code_size(f->code); }

/* One (descriptor, code, offset, count, width, len_at) entry of MessageLayout's fields. 0, or -1 with an exception. */
static int layout_field_init(LayoutObject *self, layout_field *f, PyObject *entry) {
  PyObject *descr, *code;
  unsigned int offset, count, width;
  int len_at;
  if (!PyArg_ParseTuple(entry, "OUIIIi", &descr, &code, &offset, &count, &width, &len_at)) return -1;
  const char *c = PyUnicode_AsUTF8AndSize(code, NULL);
  if (!c) return -1;
  f->code = strlen(c) == 1 ? c[0] : 0;
  f->offset = offset;
  f->count = count;
  f->width = f->code == 's' ? width : 0;
  f->len_at = len_at;
  f->get = (descrgetfunc)PyType_GetSlot(Py_TYPE(descr), Py_tp_descr_get);
  f->set = (descrsetfunc)PyType_GetSlot(Py_TYPE(descr), Py_tp_descr_set);
  /* Everything read or written for the field lies within the message's bytes: checked once, here. */
  uint64_t end = offset + (uint64_t)item_size(f) * (count ? count : 1);
  int list_ok = len_at < 0 ? !(f->code == 's' && count) : count && (uint64_t)len_at + 2 <= self->size;
  if (!item_size(f) || end > self->size || !list_ok || !f->get || !f->set) {
    PyErr_Format(PyExc_ValueError, "MessageLayout: field (%R, %R, %u, %u, %u, %d) is not a slot of numbers or texts "
                 "within %u bytes", descr, code, offset, count, width, len_at, self->size);
    return -1;
  }
  Py_INCREF(descr);
  f->descr = descr;
  return 0;
}

/* MessageLayout(cls, type_id, layout_hash, size, fields): fields a tuple of (slot, code, offset, count). */
static int Layout_init(LayoutObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"cls", "type_id", "layout_hash", "size", "fields", NULL};
  PyObject *cls, *fields;
  unsigned int type_id, size;
  unsigned long long layout_hash;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O!IKIO!", kwlist, &PyType_Type, &cls, &type_id, &layout_hash, &size,
                                   &PyTuple_Type, &fields))
    return -1;
  layout_clear_fields(self);
  PyObject *old = self->cls; /* __init__ may run again */
  Py_INCREF(cls);
  self->cls = cls;
  Py_XDECREF(old);
  self->type_id = type_id;
  self->layout_hash = layout_hash;
  self->size = size;
  Py_ssize_t n = PyTuple_Size(fields);
  self->fields = PyMem_Calloc(n ? (size_t)n : 1, sizeof(layout_field));
  if (!self->fields) {
    PyErr_NoMemory();
    return -1;
  }
  for (; self->nfields < n; self->nfields++)
    if (layout_field_init(self, &self->fields[self->nfields], PyTuple_GetItem(fields, self->nfields)) != 0) return -1;
  return 0;
}

/* A class holds its layout (_LAYOUT) and the layout its class and slots: a cycle, for the collector. */
static int Layout_traverse(LayoutObject *self, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->cls);
  for (Py_ssize_t i = 0; i < self->nfields; i++) Py_VISIT(self->fields[i].descr);
  return 0;
}

static int Layout_clear(LayoutObject *self) {
  Py_CLEAR(self->cls);
  layout_clear_fields(self);
  return 0;
}

static void Layout_dealloc(LayoutObject *self) {
  PyObject_GC_UnTrack(self);
  Layout_clear(self);
  PyTypeObject *tp = Py_TYPE(self);
  ((freefunc)PyType_GetSlot(tp, Py_tp_free))(self);
  Py_DECREF(tp);
}

static PyType_Slot Layout_slots[] = {
    {Py_tp_init, Layout_init},
    {Py_tp_dealloc, Layout_dealloc},
    {Py_tp_traverse, Layout_traverse},
    {Py_tp_clear, Layout_clear},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_doc, "MessageLayout(cls, type_id, layout_hash, size, fields): where each field of numbers or texts of a "
                "message class lies in its bytes; fields a tuple of (member descriptor, struct code (s: a text), "
                "offset, count (0: one value; N: T[N], or at most N), width (of a text), len_at (the offset of a "
                "bounded list's u16 length; -1: none))"},
    {0, NULL}};

static PyType_Spec Layout_spec = {"horus._core.MessageLayout", sizeof(LayoutObject), 0,
                                  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Layout_slots};

/* register_message(type_id, layout): payloads of this type id decode here (None: codec.py decodes them). */
static PyObject *fn_register_message(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *type_id, *layout;
  if (!PyArg_ParseTuple(args, "O!O", &PyLong_Type, &type_id, &layout)) return NULL;
  if (layout != Py_None && !PyObject_TypeCheck(layout, LayoutType)) {
    PyErr_SetString(PyExc_TypeError, "register_message(type_id, layout): layout is a MessageLayout or None");
    return NULL;
  }
  if (layout == Py_None) {
    if (PyDict_DelItem(Layouts, type_id) != 0) {
      if (!PyErr_ExceptionMatches(PyExc_KeyError)) return NULL;
      PyErr_Clear();
    }
  } else if (PyDict_SetItem(Layouts, type_id, layout) != 0) {
    return NULL;
  }
  Py_RETURN_NONE;
}

/* encode(value) -> bytes | None: value's payload, encoded here; None: codec.py must encode it. */
static PyObject *fn_encode(PyObject *m, PyObject *value) {
  (void)m;
  unsigned char buf[PYCODEC_SMALL];
  Py_ssize_t len = pycodec_encode(value, buf);
  if (len < 0) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize((const char *)buf, len);
}

/* decode(payload) -> value | NotImplemented: a bytes or bytearray payload decoded here; NotImplemented
** (no payload decodes to it): codec.py must decode it. */
static PyObject *fn_decode(PyObject *m, PyObject *payload) {
  (void)m;
  int is_bytes = PyBytes_CheckExact(payload);
  if (!is_bytes && !PyByteArray_CheckExact(payload)) Py_RETURN_NOTIMPLEMENTED;
  const char *buf = is_bytes ? PyBytes_AsString(payload) : PyByteArray_AsString(payload);
  Py_ssize_t len = is_bytes ? PyBytes_Size(payload) : PyByteArray_Size(payload);
  PyObject *value;
  int rc = pycodec_decode((const unsigned char *)buf, (size_t)len, &value);
  if (rc == 0) Py_RETURN_NOTIMPLEMENTED;
  return rc > 0 ? value : NULL;
}

static PyMethodDef pycodec_methods[] = {
    {"register_message", fn_register_message, METH_VARARGS,
     "register_message(type_id, layout): decode payloads of this type id with layout (None: in Python)"},
    {"encode", fn_encode, METH_O, "encode(value) -> bytes | None: the payload, or None: codec.py encodes it"},
    {"decode", fn_decode, METH_O,
     "decode(payload) -> value | NotImplemented: the value, or NotImplemented: codec.py decodes it"},
    {NULL, NULL, 0, NULL}};

int pycodec_init(PyObject *m) {
  Layouts = PyDict_New();
  EmptyTuple = PyTuple_New(0);
  str_layout = PyUnicode_InternFromString("_LAYOUT");
  if (!Layouts || !EmptyTuple || !str_layout) return -1;
  LayoutType = (PyTypeObject *)PyType_FromSpec(&Layout_spec);
  if (!LayoutType) return -1;
  Py_INCREF(LayoutType); /* one for this file, one for the module */
  if (PyModule_AddObject(m, "MessageLayout", (PyObject *)LayoutType) != 0) return -1;
  return PyModule_AddFunctions(m, pycodec_methods);
}

/* ---- Numbers of a message ------------------------------------------------------------------------ */

/* The number at p (little-endian, unaligned), as struct.unpack gives it; NULL with an exception. */
static PyObject *number_get(char code, const unsigned char *p) {
  union {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    uint64_t u64; int64_t i64; float f; double d;
  } v;
  memcpy(&v, p, code_size(code));
  switch (code) {
  case '?': return PyBool_FromLong(v.u8 != 0);
  case 'B': return PyLong_FromLong(v.u8);
  case 'b': return PyLong_FromLong(v.i8);
  case 'H': return PyLong_FromLong(v.u16);
  case 'h': return PyLong_FromLong(v.i16);
  case 'I': return PyLong_FromUnsignedLong(v.u32);
  case 'i': return PyLong_FromLong(v.i32);
  case 'Q': return PyLong_FromUnsignedLongLong(v.u64);
  case 'q': return PyLong_FromLongLong(v.i64);
  case 'f': return PyFloat_FromDouble(v.f);
  default: return PyFloat_FromDouble(v.d);
  }
}

/* A text of `width` bytes at p: its bytes up to the trailing NULs, as UTF-8; NULL with UnicodeDecodeError. */
static PyObject *text_get(uint32_t width, const unsigned char *p) {
  while (width && p[width - 1] == 0) width--;
  return PyUnicode_DecodeUTF8((const char *)p, width, NULL);
}

/* One item (a number or a text) of field f at p; NULL with an exception. */
static PyObject *item_get(const layout_field *f, const unsigned char *p) {
  return f->width ? text_get(f->width, p) : number_get(f->code, p);
}

/* An integer of code's range from int o, as struct.pack takes it; 0, or -1 declined (no exception). */
static int integer_put(char code, PyObject *o, unsigned char *p) {
  if (!PyLong_Check(o)) return -1;
  if (code == 'Q') {
    unsigned long long u = PyLong_AsUnsignedLongLong(o);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
      PyErr_Clear();
      return -1;
    }
    memcpy(p, &u, 8);
    return 0;
  }
  int overflow;
  long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow || (x == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return -1;
  }
  long long lo = 0, hi = 0;
  switch (code) {
  case 'B': hi = UINT8_MAX; break;
  case 'b': lo = INT8_MIN, hi = INT8_MAX; break;
  case 'H': hi = UINT16_MAX; break;
  case 'h': lo = INT16_MIN, hi = INT16_MAX; break;
  case 'I': hi = UINT32_MAX; break;
  case 'i': lo = INT32_MIN, hi = INT32_MAX; break;
  default: lo = INT64_MIN, hi = INT64_MAX; break; /* q */
  }
  if (x < lo || x > hi) return -1;
  /* Little-endian: the low bytes of the 64-bit value are the narrower integer's. */
  memcpy(p, &x, code_size(code));
  return 0;
}

/* The number o at p as struct.pack writes it for code; 0, or -1 declined (no exception): struct.pack would
** refuse it, or would call Python code to convert it. */
static int number_put(char code, PyObject *o, unsigned char *p) {
  if (code == '?') {
    if (o != Py_True && o != Py_False) return -1;
    *p = o == Py_True;
    return 0;
  }
  if (code != 'f' && code != 'd') return integer_put(code, o, p);
  double d;
  if (PyFloat_CheckExact(o)) {
    d = PyFloat_AsDouble(o);
  } else if (PyLong_CheckExact(o)) {
    d = PyLong_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return -1;
    }
  } else {
    return -1;
  }
  if (code == 'd') {
    memcpy(p, &d, 8);
    return 0;
  }
  float f = (float)d;
  if (isinf(f) && !isinf(d)) return -1; /* struct.pack's OverflowError */
  memcpy(p, &f, 4);
  return 0;
}

/* ---- Messages ---------------------------------------------------------------------------------- */

/* The layout of payloads of this type id and layout hash, borrowed; NULL (no exception) if none here. */
static LayoutObject *layout_for(uint32_t type_id, uint64_t layout_hash) {
  PyObject *key = PyLong_FromUnsignedLong(type_id);
  if (!key) {
    PyErr_Clear();
    return NULL;
  }
  PyObject *layout = PyDict_GetItemWithError(Layouts, key);
  Py_DECREF(key);
  if (!layout) {
    PyErr_Clear();
    return NULL;
  }
  LayoutObject *l = (LayoutObject *)layout;
  return l->layout_hash == layout_hash ? l : NULL;
}

/* How many items field f has in the message bytes at src: its count, or a bounded list's length. */
static uint32_t items_at(const layout_field *f, const unsigned char *src) {
  if (f->len_at < 0) return f->count;
  uint16_t len;
  memcpy(&len, src + f->len_at, 2);
  return len;
}

/* Field f's value in the message bytes at src (checked by fields_valid); NULL with an exception. */
static PyObject *value_get(const layout_field *f, const unsigned char *src) {
  if (!f->count) return item_get(f, src + f->offset);
  uint32_t n = items_at(f, src);
  PyObject *list = PyList_New(n);
  for (uint32_t i = 0; list && i < n; i++) {
    PyObject *item = item_get(f, src + f->offset + i * item_size(f));
    if (!item || PyList_SetItem(list, i, item) != 0) Py_CLEAR(list);
  }
  return list;
}

/*
** Can every field of l be read from the message bytes at src, so that setting them all cannot stop
** halfway? A bounded list's length at most its N, every text UTF-8. 1 yes; 0 no; -1 with an exception.
*/
static int fields_valid(const LayoutObject *l, const unsigned char *src) {
  for (Py_ssize_t i = 0; i < l->nfields; i++) {
    const layout_field *f = &l->fields[i];
    uint32_t n = f->count ? items_at(f, src) : 1;
    if (f->count && n > f->count) return 0; /* what a broken writer put there: from_bytes words it */
    for (uint32_t k = 0; f->width && k < n; k++) {
      PyObject *text = text_get(f->width, src + f->offset + k * f->width);
      if (!text) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return -1;
        PyErr_Clear();
        return 0;
      }
      Py_DECREF(text);
    }
  }
  return 1;
}

/* Refill msg's list of field f (a T[N] of numbers) in place from src: 1 done, 0 not a list of N, -1 error. */
static int refill(const LayoutObject *l, const layout_field *f, PyObject *msg, const unsigned char *src) {
  PyObject *list = f->get(f->descr, msg, l->cls);
  if (!list) { /* unset: a new list instead */
    PyErr_Clear();
    return 0;
  }
  int rc = PyList_CheckExact(list) && PyList_Size(list) == (Py_ssize_t)f->count;
  for (uint32_t k = 0; rc == 1 && k < f->count; k++) {
    PyObject *item = number_get(f->code, src + f->offset + k * code_size(f->code));
    if (!item || PyList_SetItem(list, k, item) != 0) rc = -1;
  }
  Py_DECREF(list);
  return rc;
}

/*
** Set msg's fields from the message bytes at src (layout l's size of them). A T[N] field's list is
** refilled in place when it is a list of N (a receiver keeps its lists), else replaced. 1 done; 0
** declined, msg untouched: a list's length or a text that codec.py refuses; -1 with an exception.
*/
static int fields_set(const LayoutObject *l, PyObject *msg, const unsigned char *src, int reuse_lists) {
  int valid = fields_valid(l, src);
  if (valid != 1) return valid;
  for (Py_ssize_t i = 0; i < l->nfields; i++) {
    const layout_field *f = &l->fields[i];
    if (reuse_lists && f->count && f->len_at < 0 && !f->width) {
      int refilled = refill(l, f, msg, src);
      if (refilled < 0) return -1;
      if (refilled) continue;
    }
    PyObject *value = value_get(f, src);
    if (!value) return -1;
    int rc = f->set(f->descr, msg, value);
    Py_DECREF(value);
    if (rc != 0) return -1;
  }
  return 1;
}

/* A new message of l's class from its bytes at src; NULL: declined (codec.py refuses the bytes), or an exception. */
static PyObject *message_new(const LayoutObject *l, const unsigned char *src) {
  newfunc tp_new = (newfunc)PyType_GetSlot((PyTypeObject *)l->cls, Py_tp_new);
  PyObject *msg = tp_new((PyTypeObject *)l->cls, EmptyTuple, NULL); /* __new__ without __init__, as from_bytes */
  if (msg && fields_set(l, msg, src, 0) != 1) Py_CLEAR(msg);
  return msg;
}

/* A text o at p (p zeroed: the NULs after it are there). 0, or -1 declined (no exception). */
static int text_put(uint32_t width, PyObject *o, unsigned char *p) {
  Py_ssize_t n;
  const char *utf8 = PyUnicode_CheckExact(o) ? PyUnicode_AsUTF8AndSize(o, &n) : NULL;
  if (!utf8 || (size_t)n > width) { /* a lone surrogate, or too long: to_bytes says so */
    PyErr_Clear();
    return -1;
  }
  memcpy(p, utf8, (size_t)n);
  return 0;
}

static int item_put(const layout_field *f, PyObject *o, unsigned char *p) {
  return f->width ? text_put(f->width, o, p) : number_put(f->code, o, p);
}

/*
** Message msg's bytes at dst (l's size, zeroed first: pad bytes and a bounded list's unset items are
** zero, as to_bytes writes them for the classes that have a MessageLayout). 0, or -1 declined.
*/
static int message_put(const LayoutObject *l, PyObject *msg, unsigned char *dst) {
  memset(dst, 0, l->size);
  for (Py_ssize_t i = 0; i < l->nfields; i++) {
    const layout_field *f = &l->fields[i];
    PyObject *value = f->get(f->descr, msg, l->cls);
    if (!value) {
      PyErr_Clear();
      return -1;
    }
    int rc = 0;
    if (!f->count) {
      rc = item_put(f, value, dst + f->offset);
    } else {
      Py_ssize_t n = PyList_CheckExact(value) ? PyList_Size(value) : -1;
      /* Not a list of the field's length: to_bytes says what is wrong with it. */
      rc = n < 0 || n > (Py_ssize_t)f->count || (f->len_at < 0 && n != (Py_ssize_t)f->count) ? -1 : 0;
      if (rc == 0 && f->len_at >= 0) {
        uint16_t len = (uint16_t)n;
        memcpy(dst + f->len_at, &len, 2);
      }
      for (Py_ssize_t k = 0; rc == 0 && k < n; k++)
        rc = item_put(f, PyList_GetItem(value, k), dst + f->offset + (size_t)k * item_size(f));
    }
    Py_DECREF(value);
    if (rc != 0) return -1;
  }
  return 0;
}

int pycodec_fill(PyObject *msg, const unsigned char *buf, size_t len) {
  uint32_t type_id;
  uint64_t layout_hash;
  if (len < 1 + MSG_HEADER || buf[0] != 'M') return 0;
  memcpy(&type_id, buf + 1, 4);
  memcpy(&layout_hash, buf + 5, 8);
  const LayoutObject *l = layout_for(type_id, layout_hash);
  if (!l || (PyObject *)Py_TYPE(msg) != l->cls || len != 1 + MSG_HEADER + (size_t)l->size) return 0;
  return fields_set(l, msg, buf + 1 + MSG_HEADER, 1);
}

/* ---- Decoding ---------------------------------------------------------------------------------- */

typedef struct {
  const unsigned char *p;
  size_t len, pos; /* pos <= len */
} reader;

static int has(const reader *r, size_t n) { return r->len - r->pos >= n; }

static uint32_t take_u32(reader *r) {
  uint32_t v;
  memcpy(&v, r->p + r->pos, 4);
  r->pos += 4;
  return v;
}

/* Would codec.py count this dict key against _MAX_STEERABLE_KEYS? (_steerable there.) */
static int steerable(PyObject *key) {
  if (PyUnicode_CheckExact(key) || PyBytes_CheckExact(key) || PyBool_Check(key) || key == Py_None) return 0;
  if (!PyLong_CheckExact(key)) return 1;
  int overflow;
  long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
  return overflow || v < -SELF_HASHING || v > SELF_HASHING;
}

static PyObject *dec(reader *r, int depth);

/* The items of a list or tuple after its tag. NULL: declined (an exception may be set). */
static PyObject *dec_sequence(reader *r, int depth, int is_list) {
  if (!has(r, 4)) return NULL;
  uint32_t n = take_u32(r);
  if (n > r->len - r->pos) return NULL; /* each item is one byte at least */
  PyObject *seq = is_list ? PyList_New(n) : PyTuple_New(n);
  for (uint32_t i = 0; seq && i < n; i++) {
    PyObject *item = dec(r, depth + 1);
    if (!item || (is_list ? PyList_SetItem(seq, i, item) : PyTuple_SetItem(seq, i, item)) != 0) Py_CLEAR(seq);
  }
  return seq;
}

static PyObject *dec_dict(reader *r, int depth) {
  if (!has(r, 4)) return NULL;
  uint32_t n = take_u32(r);
  if (n > (r->len - r->pos) / 2) return NULL; /* a key and a value: two bytes at least */
  PyObject *d = PyDict_New();
  int steered = 0;
  for (uint32_t i = 0; d && i < n; i++) {
    PyObject *key = dec(r, depth + 1), *value = NULL;
    if (key && (!steerable(key) || ++steered <= MAX_STEERABLE_KEYS)) value = dec(r, depth + 1);
    if (!value || PyDict_SetItem(d, key, value) != 0) Py_CLEAR(d);
    Py_XDECREF(key);
    Py_XDECREF(value);
  }
  return d;
}

static PyObject *dec_message(reader *r) {
  if (!has(r, MSG_HEADER)) return NULL;
  uint32_t type_id = take_u32(r);
  uint64_t layout_hash;
  memcpy(&layout_hash, r->p + r->pos, 8);
  r->pos += 8;
  const LayoutObject *l = layout_for(type_id, layout_hash);
  if (!l || !has(r, l->size)) return NULL;
  PyObject *msg = message_new(l, r->p + r->pos);
  r->pos += l->size;
  return msg;
}

/* The value at r->pos, and r->pos past it. NULL: declined (an exception may be set). */
static PyObject *dec(reader *r, int depth) {
  if (depth > MAX_DEPTH || !has(r, 1)) return NULL;
  unsigned char tag = r->p[r->pos++];
  switch (tag) {
  case 'N': Py_RETURN_NONE;
  case 'T': Py_RETURN_TRUE;
  case 'F': Py_RETURN_FALSE;
  case 'i':
  case 'f': {
    if (!has(r, 8)) return NULL;
    int64_t i;
    double d;
    memcpy(&i, r->p + r->pos, 8);
    memcpy(&d, r->p + r->pos, 8);
    r->pos += 8;
    return tag == 'i' ? PyLong_FromLongLong(i) : PyFloat_FromDouble(d);
  }
  case 's':
  case 'b': {
    if (!has(r, 4)) return NULL;
    uint32_t n = take_u32(r);
    if (!has(r, n)) return NULL;
    const char *at = (const char *)r->p + r->pos;
    r->pos += n;
    return tag == 's' ? PyUnicode_DecodeUTF8(at, n, "surrogatepass") : PyBytes_FromStringAndSize(at, n);
  }
  case 'l': return dec_sequence(r, depth, 1);
  case 't': return dec_sequence(r, depth, 0);
  case 'd': return dec_dict(r, depth);
  case 'M': return dec_message(r);
  default: return NULL; /* I (big int), a (array), X (Tensor), G (frame), or not a tag: codec.py */
  }
}

int pycodec_decode(const unsigned char *buf, size_t len, PyObject **out) {
  reader r = {buf, len, 0};
  PyObject *value = dec(&r, 0);
  if (value && r.pos == len) {
    *out = value;
    return 1;
  }
  Py_XDECREF(value);
  if (PyErr_Occurred()) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) return -1;
    PyErr_Clear(); /* a string that is not UTF-8, an unhashable key: codec.py words the DecodeError */
  }
  return 0;
}

/* ---- Encoding ---------------------------------------------------------------------------------- */

typedef struct {
  unsigned char *p;
  size_t len;
} writer;

/* Room for n more bytes at w->p + w->len? */
static int room(const writer *w, size_t n) { return PYCODEC_SMALL - w->len >= n; }

static int put(writer *w, const void *src, size_t n) {
  if (!room(w, n)) return -1;
  memcpy(w->p + w->len, src, n);
  w->len += n;
  return 0;
}

static int put_tag_u32(writer *w, char tag, size_t n) {
  if (n > UINT32_MAX || !room(w, 5)) return -1;
  uint32_t v = (uint32_t)n;
  w->p[w->len++] = (unsigned char)tag;
  return put(w, &v, 4);
}

static int enc(writer *w, PyObject *v, int depth);

static int enc_items(writer *w, PyObject *v, int depth) {
  int is_list = PyList_CheckExact(v);
  Py_ssize_t n = is_list ? PyList_Size(v) : PyTuple_Size(v);
  if (put_tag_u32(w, is_list ? 'l' : 't', (size_t)n) != 0) return -1;
  for (Py_ssize_t i = 0; i < n; i++)
    if (enc(w, is_list ? PyList_GetItem(v, i) : PyTuple_GetItem(v, i), depth + 1) != 0) return -1;
  return 0;
}

static int enc_dict(writer *w, PyObject *v, int depth) {
  if (put_tag_u32(w, 'd', (size_t)PyDict_Size(v)) != 0) return -1;
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(v, &pos, &key, &value))
    if (enc(w, key, depth + 1) != 0 || enc(w, value, depth + 1) != 0) return -1;
  return 0;
}

/* A typed message with a MessageLayout: M, type id, layout hash, its bytes. Declined for any other object. */
static int enc_message(writer *w, PyObject *v) {
  PyObject *layout = PyObject_GetAttr((PyObject *)Py_TYPE(v), str_layout);
  if (!layout) {
    PyErr_Clear();
    return -1;
  }
  int rc = -1;
  const LayoutObject *l = (const LayoutObject *)layout;
  if (PyObject_TypeCheck(layout, LayoutType) && l->cls == (PyObject *)Py_TYPE(v) && room(w, 1 + MSG_HEADER + l->size)) {
    unsigned char *at = w->p + w->len;
    at[0] = 'M';
    memcpy(at + 1, &l->type_id, 4);
    memcpy(at + 5, &l->layout_hash, 8);
    rc = message_put(l, v, at + 1 + MSG_HEADER);
    if (rc == 0) w->len += 1 + MSG_HEADER + l->size;
  }
  Py_DECREF(layout);
  return rc;
}

/* v's encoding appended; 0, or -1 declined (no exception). Exact built-in types only: a subclass's
** methods are Python code, which codec.py runs (it sends the value as its base type). */
static int enc(writer *w, PyObject *v, int depth) {
  if (depth > MAX_DEPTH || !room(w, 1)) return -1;
  if (v == Py_None || PyBool_Check(v)) {
    w->p[w->len++] = v == Py_None ? 'N' : v == Py_True ? 'T' : 'F';
    return 0;
  }
  if (PyLong_CheckExact(v)) {
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return -1; /* a big int: I */
    w->p[w->len++] = 'i';
    return put(w, &x, 8);
  }
  if (PyFloat_CheckExact(v)) {
    double d = PyFloat_AsDouble(v);
    w->p[w->len++] = 'f';
    return put(w, &d, 8);
  }
  if (PyUnicode_CheckExact(v)) {
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(v, &n);
    if (!utf8) { /* a lone surrogate: codec.py encodes with surrogatepass */
      PyErr_Clear();
      return -1;
    }
    return put_tag_u32(w, 's', (size_t)n) == 0 ? put(w, utf8, (size_t)n) : -1;
  }
  if (PyBytes_CheckExact(v) || PyByteArray_CheckExact(v)) {
    int is_bytes = PyBytes_CheckExact(v);
    Py_ssize_t n = is_bytes ? PyBytes_Size(v) : PyByteArray_Size(v);
    const char *data = is_bytes ? PyBytes_AsString(v) : PyByteArray_AsString(v);
    return put_tag_u32(w, 'b', (size_t)n) == 0 ? put(w, data, (size_t)n) : -1;
  }
  if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) return enc_items(w, v, depth);
  if (PyDict_CheckExact(v)) return enc_dict(w, v, depth);
  return enc_message(w, v);
}

Py_ssize_t pycodec_encode(PyObject *value, unsigned char *out) {
  writer w = {out, 0};
  return enc(&w, value, 0) == 0 ? (Py_ssize_t)w.len : -1;
}
