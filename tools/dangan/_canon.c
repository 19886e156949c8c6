/* dangan._canon: the canonical reader and emitter of yamlio, compiled.

   `emit(tree)` returns exactly what the pure-Python `yamlio._dump_fast_py(tree)` returns
   (the canonical text, or None when the tree needs ruamel's emitter), or NotImplemented
   for a tree it leaves to the Python code (containers that are subclasses of dict or list,
   nesting deeper than MAX_DEPTH). It writes the structure, exact ints that fit in 64 bits,
   floats, booleans, None, literal blocks and the plain-or-quoted decision of strings
   itself; it asks the two Python callables given to `configure` only for scalars of other
   types and longer ints (yamlio._scalar) and for strings that start like another YAML
   type (yamlio._not_str_match), so the hard rules have one definition. `parse(data)` reads the canonical layout (see "reading" below).
   tests/test_canon.py compares both with the Python code on generated input.

   Only CPython's public C API is used (no _Py* names: those change or go away between
   versions; the private string writer this file used is deprecated in 3.14).

   Memory: output is built in the Writer below (a buffer of 1-, 2- or 4-byte characters that
   widens like CPython's own str, on the stack for the first 4 KiB), released on every exit
   path; input strings are read through the public PyUnicode API with their own lengths. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAX_DEPTH 200
#define MAX_INT_DIGITS 640  /* yamlio.MAX_INT_DIGITS: the longest integer a record holds */

static PyObject *scalar_fn = NULL;   /* yamlio._scalar(value) -> str | None */
static PyObject *not_str_fn = NULL;  /* yamlio._not_str_match(text) -> Match | None */


/* results of the emitting functions */
#define OK 0
#define GIVE_UP 1     /* the Python emitter would return None */
#define NOT_MINE 2    /* leave the whole tree to the Python emitter */
#define ERROR 3       /* a Python exception is set */
#define EMPTY 4       /* a scalar whose text is empty (None): nothing was written */

static const char SPACES[] = "                                                                ";

/* ------------------------------------------------------------------------- the writer

   The emitted text, built in a buffer of characters of one width (`kind`: 1, 2 or 4 bytes,
   as PyUnicode_KIND) that widens when a wider string is written, then copied once into a
   str of exactly that width (PyUnicode_New). `maxchar` is the class of the widest
   character written (127, 255, 0xffff or 0x10ffff), which is what PyUnicode_New needs to
   make the same compact str as any other way of building the text: every string written
   is an exact str in CPython's narrowest form, so its kind and ASCII flag give its class.
   Measured against the private _PyUnicodeWriter it replaces, a growing UTF-8 buffer
   decoded at the end, and PyUnicode_Join of pieces: see docs/performance.md. */

#define WRITER_STACK 4096

typedef struct {
    char *data;          /* len characters of `kind` bytes each */
    Py_ssize_t len;      /* in characters */
    Py_ssize_t cap;      /* in bytes */
    int kind;
    Py_UCS4 maxchar;
    char stack[WRITER_STACK];
} Writer;

static void writer_init(Writer *w) {
    w->data = w->stack;
    w->len = 0;
    w->cap = WRITER_STACK;
    w->kind = PyUnicode_1BYTE_KIND;
    w->maxchar = 127;
}

static void writer_dealloc(Writer *w) {
    if (w->data != w->stack)
        PyMem_Free(w->data);
    w->data = w->stack;
}

/* Copies n characters of width `from` at src to width `to` (to >= from) at dst. */
static void widen(void *dst, int to, const void *src, int from, Py_ssize_t n) {
    if (to == from) {
        memcpy(dst, src, (size_t)n * (size_t)to);
    } else if (from == 1 && to == 2) {
        for (Py_ssize_t i = 0; i < n; i++)
            ((Py_UCS2 *)dst)[i] = ((const Py_UCS1 *)src)[i];
    } else if (from == 1) {
        for (Py_ssize_t i = 0; i < n; i++)
            ((Py_UCS4 *)dst)[i] = ((const Py_UCS1 *)src)[i];
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            ((Py_UCS4 *)dst)[i] = ((const Py_UCS2 *)src)[i];
    }
}

/* Room for `extra` more characters of width `kind`: widens and grows the buffer. */
static int writer_reserve(Writer *w, Py_ssize_t extra, int kind) {
    int to = kind > w->kind ? kind : w->kind;
    if (extra > PY_SSIZE_T_MAX / 4 - w->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = w->len + extra;
    if (to == w->kind && (size_t)need * (size_t)to <= (size_t)w->cap)
        return 0;
    /* capacity in bytes, at least doubled so that appends stay amortized O(1) */
    size_t bytes = (size_t)need * (size_t)to;
    size_t grown = (size_t)w->cap * 2;
    if (bytes < grown)
        bytes = grown;
    char *data = PyMem_Malloc(bytes);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    widen(data, to, w->data, w->kind, w->len);
    writer_dealloc(w);
    w->data = data;
    w->cap = (Py_ssize_t)bytes;
    w->kind = to;
    return 0;
}

static int put_ascii(Writer *w, const char *s, Py_ssize_t n) {
    if (writer_reserve(w, n, PyUnicode_1BYTE_KIND) < 0)
        return ERROR;
    widen(w->data + w->len * w->kind, w->kind, s, PyUnicode_1BYTE_KIND, n);
    w->len += n;
    return OK;
}

static int put_str(Writer *w, PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    Py_UCS4 maxchar = kind == PyUnicode_1BYTE_KIND ? (PyUnicode_IS_ASCII(s) ? 127 : 255)
                      : kind == PyUnicode_2BYTE_KIND ? 0xffff : 0x10ffff;
    if (writer_reserve(w, n, kind) < 0)
        return ERROR;
    widen(w->data + w->len * w->kind, w->kind, PyUnicode_DATA(s), kind, n);
    w->len += n;
    if (maxchar > w->maxchar)
        w->maxchar = maxchar;
    return OK;
}

/* The characters [start, end) of s (a slice is an exact str in its own narrowest form). */
static int put_substring(Writer *w, PyObject *s, Py_ssize_t start, Py_ssize_t end) {
    PyObject *part = PyUnicode_Substring(s, start, end);
    if (part == NULL)
        return ERROR;
    int rc = put_str(w, part);
    Py_DECREF(part);
    return rc;
}

/* The text written, as a str; the writer is released either way. */
static PyObject *writer_finish(Writer *w) {
    PyObject *out = PyUnicode_New(w->len, w->maxchar);
    if (out != NULL)
        memcpy(PyUnicode_DATA(out), w->data, (size_t)w->len * (size_t)w->kind);
    writer_dealloc(w);
    return out;
}

static int put_spaces(Writer *w, Py_ssize_t n) {
    while (n > 0) {
        Py_ssize_t k = n < (Py_ssize_t)(sizeof(SPACES) - 1) ? n : (Py_ssize_t)(sizeof(SPACES) - 1);
        if (put_ascii(w, SPACES, k) != OK)
            return ERROR;
        n -= k;
    }
    return OK;
}

/* Characters of yamlio._plain_chars(). */
static inline int plain_char(Py_UCS4 c) {
    return (c >= 0x20 && c <= 0x7e) || (c >= 0xa1 && c <= 0x2027) || (c >= 0x202a && c <= 0xd7ff)
        || (c >= 0xe000 && c <= 0xfefe) || (c >= 0xff00 && c <= 0xfffd);
}

/* yamlio._INDICATOR_START */
static inline int indicator(Py_UCS4 c) {
    return c < 0x80 && c != 0 && strchr("-?:,[]{}#&*!|>'\"%@`", (int)c) != NULL;
}

/* yamlio._plain_syntax(s) for an exact, non-empty str. */
static int plain_syntax(PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 first = PyUnicode_READ(kind, data, 0);
    if (indicator(first) || first == ' ')
        return 0;
    Py_UCS4 prev = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!plain_char(c))
            return 0;
        if ((prev == ':' && c == ' ') || (prev == ' ' && c == '#'))
            return 0;
        prev = c;
    }
    if (prev == ' ' || prev == ':')
        return 0;
    /* "---" and "..." at the start ("-" is an indicator already) */
    if (n >= 3 && first == '.' && PyUnicode_READ(kind, data, 1) == '.' && PyUnicode_READ(kind, data, 2) == '.')
        return 0;
    return 1;
}

static int equals_ascii(PyObject *s, const char *word) {
    return PyUnicode_CompareWithASCIIString(s, word) == 0;
}

/* 1 for the two shapes of date most records hold, which _NOT_STR_PATTERN reads as timestamps:
   "2024-01-31" and "2024-01-31T08:30:00+08:00" (digits where D stands:
   DDDD-DD-DD and DDDD-DD-DDTDD:DD:DD+DD:DD or -DD:DD), and sops' lastmodified
   "2024-01-31T00:30:00Z". Anything else: 0 (ask _NOT_STR_PATTERN). */
static int date_shaped(PyObject *s) {
    static const char *shapes[] = {"DDDD-DD-DD", "DDDD-DD-DDTDD:DD:DD+DD:DD", "DDDD-DD-DDTDD:DD:DD-DD:DD",
                                   "DDDD-DD-DDTDD:DD:DDZ"};
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        const char *shape = shapes[k];
        if ((size_t)n != strlen(shape))
            continue;
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ_CHAR(s, i);
            if (shape[i] == 'D' ? !(c >= '0' && c <= '9') : c != (Py_UCS4)(unsigned char)shape[i])
                break;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

/* s (ASCII) is made of the digits 0-9 alone. */
static int only_digits(PyObject *s) {
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < n; i++)
        if (c[i] < '0' || c[i] > '9')
            return 0;
    return n > 0;
}

/* yamlio._reads_as_str(s) for a str with plain syntax: 1, 0, or -1 with an exception.

   The resolvers of _NOT_STR_PATTERN start with one of "~<=+-." or a digit, or are one of the
   words true/True/TRUE, false/False/FALSE, null/Null/NULL (or match the empty text, which
   never gets here); a text starting otherwise reads as a string without asking the
   regular expression. tests/test_yamlio.py checks this claim against _NOT_STR_PATTERN. */
static int reads_as_str(PyObject *s) {
    Py_UCS4 first = PyUnicode_READ_CHAR(s, 0);
    if (first == '_')
        return 1;
    if (first >= 0x80 || strchr("~<=+-.0123456789tTfFnN", (int)first) == NULL)
        return 1;
    if (strchr("tTfFnN", (int)first) != NULL) {
        static const char *words[] = {"true", "True", "TRUE", "false", "False", "FALSE",
                                      "null", "Null", "NULL"};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (equals_ascii(s, words[i]))
                return 0;
        return 1;
    }
    /* Every resolver matches ASCII alone ([0-9], not \d): a text with any other character
       reads as a string ("1棟2單元"). One of ASCII digits alone is an int ([-+]?[0-9_]+). */
    if (!PyUnicode_IS_ASCII(s))
        return 1;
    if (date_shaped(s) || only_digits(s))
        return 0;
    PyObject *m = PyObject_CallOneArg(not_str_fn, s);
    if (m == NULL)
        return -1;
    int is_str = m == Py_None;
    Py_DECREF(m);
    return is_str;
}

/* Writes `sep` and the text of a scalar as yamlio._scalar gives it; EMPTY (nothing
   written) for an empty text. */
static int put_scalar(Writer *w, PyObject *value, const char *sep) {
    Py_ssize_t seplen = (Py_ssize_t)strlen(sep);
    if (PyUnicode_CheckExact(value)) {
        if (PyUnicode_GET_LENGTH(value) == 0) {
            if (put_ascii(w, sep, seplen) != OK)
                return ERROR;
            return put_ascii(w, "''", 2);
        }
        if (!plain_syntax(value))
            return GIVE_UP;  /* ruamel's own analysis decides */
        int is_str = reads_as_str(value);
        if (is_str < 0)
            return ERROR;
        if (put_ascii(w, sep, seplen) != OK)
            return ERROR;
        if (is_str)
            return put_str(w, value);
        if (put_ascii(w, "'", 1) != OK || put_str(w, value) != OK)
            return ERROR;
        return put_ascii(w, "'", 1);
    }
    if (value == Py_None)
        return EMPTY;
    if (value == Py_True || value == Py_False) {
        if (put_ascii(w, sep, seplen) != OK)
            return ERROR;
        return value == Py_True ? put_ascii(w, "true", 4) : put_ascii(w, "false", 5);
    }
    PyObject *text = NULL;
    int overflow = 0;
    if (PyLong_CheckExact(value) && (PyLong_AsLongLongAndOverflow(value, &overflow), !overflow)) {
        /* at most 19 digits: always printable. Longer ones go to yamlio._scalar, which
           knows the bound (yamlio.MAX_INT_DIGITS) past which there is no canonical text */
        if (PyErr_Occurred())
            return ERROR;
        text = PyObject_Str(value);
    } else if (PyFloat_CheckExact(value)) {
        if (!isfinite(PyFloat_AS_DOUBLE(value)))
            return GIVE_UP;
        text = PyObject_Repr(value);
        if (text != NULL && PyUnicode_FindChar(text, 'e', 0, PyUnicode_GET_LENGTH(text), 1) != -1) {
            Py_DECREF(text);
            return GIVE_UP;
        }
    } else {
        text = PyObject_CallOneArg(scalar_fn, value);
        if (text == Py_None) {
            Py_DECREF(text);
            return GIVE_UP;
        }
        if (text != NULL && !PyUnicode_Check(text)) {
            Py_DECREF(text);
            PyErr_SetString(PyExc_TypeError, "dangan._canon: _scalar returned a non-string");
            return ERROR;
        }
    }
    if (text == NULL)
        return ERROR;
    int rc = OK;
    if (PyUnicode_GET_LENGTH(text) == 0)
        rc = EMPTY;
    else if (put_ascii(w, sep, seplen) != OK || put_str(w, text) != OK)
        rc = ERROR;
    Py_DECREF(text);
    return rc;
}

/* yamlio._plain_ok(key) for a key; GIVE_UP when it cannot be written plain. */
static int key_ok(PyObject *key) {
    /* at most 1024 characters: YAML's limit for an implicit key, which ruamel enforces */
    if (!PyUnicode_CheckExact(key) || PyUnicode_GET_LENGTH(key) == 0 || PyUnicode_GET_LENGTH(key) > 1024
            || !plain_syntax(key))
        return GIVE_UP;
    int is_str = reads_as_str(key);
    return is_str < 0 ? ERROR : (is_str ? OK : GIVE_UP);
}

/* yamlio._literal(value, indent): a literal block, as ruamel writes one. */
static int put_literal(Writer *w, PyObject *value, Py_ssize_t indent) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    /* _literal_ok and _PLAIN_CHARS_PATTERN over the text without its line breaks */
    Py_UCS4 first = PyUnicode_READ(kind, data, 0);
    if (first == ' ' || first == '\n')
        return GIVE_UP;
    Py_UCS4 prev = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\n') {
            if (prev == ' ' || prev == '\t')
                return GIVE_UP;
        } else if (!plain_char(c) || !Py_UNICODE_ISPRINTABLE(c)) {
            return GIVE_UP;
        }
        prev = c;
    }
    if (prev == ' ' || prev == '\t')
        return GIVE_UP;
    const char *head;
    Py_ssize_t body_end = n;
    if (n >= 2 && PyUnicode_READ(kind, data, n - 1) == '\n' && PyUnicode_READ(kind, data, n - 2) == '\n') {
        head = "|+\n";
        body_end = n - 1;
    } else if (PyUnicode_READ(kind, data, n - 1) == '\n') {
        head = "|\n";
        body_end = n - 1;
    } else {
        head = "|-\n";
    }
    if (put_ascii(w, head, (Py_ssize_t)strlen(head)) != OK)
        return ERROR;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i <= body_end; i++) {
        if (i == body_end || PyUnicode_READ(kind, data, i) == '\n') {
            if (i > start) {
                if (put_spaces(w, indent) != OK
                    || put_substring(w, value, start, i) != OK)
                    return ERROR;
            }
            if (put_ascii(w, "\n", 1) != OK)
                return ERROR;
            start = i + 1;
        }
    }
    return OK;
}

static int has_newline(PyObject *s) {
    Py_ssize_t at = PyUnicode_FindChar(s, '\n', 0, PyUnicode_GET_LENGTH(s), 1);
    return at >= 0 ? 1 : (at == -1 ? 0 : -1);
}

static int emit_sequence(Writer *w, PyObject *node, Py_ssize_t indent, int depth);

/* yamlio._mapping: the first line starts with `dash` spaces and "- " (an item of a
   sequence) when dash >= 0, with plain indentation otherwise. */
static int emit_mapping(Writer *w, PyObject *node, Py_ssize_t indent, Py_ssize_t dash, int depth) {
    if (depth > MAX_DEPTH || !PyDict_CheckExact(node))
        return NOT_MINE;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int rc = OK;
    int first = dash >= 0;
    while (PyDict_Next(node, &pos, &key, &value)) {
        /* borrowed references: held while Python code (the regular expression, a
           helper) may run */
        Py_INCREF(key);
        Py_INCREF(value);
        rc = key_ok(key);
        if (rc == OK) {
            if (first) {
                rc = put_spaces(w, dash);
                if (rc == OK)
                    rc = put_ascii(w, "- ", 2);
                first = 0;
            } else {
                rc = put_spaces(w, indent);
            }
        }
        if (rc == OK)
            rc = put_str(w, key);
        if (rc != OK) {
        } else if (PyUnicode_CheckExact(value) && (rc = has_newline(value)) != 0) {
            rc = rc < 0 ? ERROR : put_ascii(w, ": ", 2);
            if (rc == OK)
                rc = put_literal(w, value, indent + 2);
        } else if (PyDict_CheckExact(value) || PyList_CheckExact(value)) {
            int is_dict = PyDict_CheckExact(value);
            Py_ssize_t size = is_dict ? PyDict_GET_SIZE(value) : PyList_GET_SIZE(value);
            if (size == 0) {
                rc = put_ascii(w, is_dict ? ": {}\n" : ": []\n", 5);
            } else {
                rc = put_ascii(w, ":\n", 2);
                if (rc == OK)
                    rc = is_dict ? emit_mapping(w, value, indent + 2, -1, depth + 1)
                                 : emit_sequence(w, value, indent + 2, depth + 1);
            }
        } else {
            rc = put_ascii(w, ":", 1);
            if (rc == OK)
                rc = put_scalar(w, value, " ");
            if (rc == EMPTY)
                rc = OK;  /* "key:" alone */
            if (rc == OK)
                rc = put_ascii(w, "\n", 1);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc != OK)
            return rc;
    }
    return OK;
}

/* yamlio._sequence */
static int emit_sequence(Writer *w, PyObject *node, Py_ssize_t indent, int depth) {
    if (depth > MAX_DEPTH || !PyList_CheckExact(node))
        return NOT_MINE;
    int rc = OK;
    for (Py_ssize_t i = 0; rc == OK && i < PyList_GET_SIZE(node); i++) {
        PyObject *item = PyList_GET_ITEM(node, i);
        Py_INCREF(item);
        if (PyDict_Check(item)) {
            if (!PyDict_CheckExact(item))
                rc = NOT_MINE;
            else if (PyDict_GET_SIZE(item) == 0)
                rc = GIVE_UP;
            else
                rc = emit_mapping(w, item, indent + 2, indent, depth + 1);
        } else if (PyList_Check(item)) {
            rc = GIVE_UP;
        } else {
            int nl = PyUnicode_CheckExact(item) ? has_newline(item) : 0;
            rc = nl < 0 ? ERROR : put_spaces(w, indent);
            if (rc == OK && nl) {
                rc = put_ascii(w, "- ", 2);
                if (rc == OK)
                    rc = put_literal(w, item, indent + 2);
            } else if (rc == OK) {
                rc = put_ascii(w, "-", 1);
                if (rc == OK)
                    rc = put_scalar(w, item, " ");
                if (rc == EMPTY)
                    rc = GIVE_UP;  /* a null item: ruamel writes "-" alone */
                if (rc == OK)
                    rc = put_ascii(w, "\n", 1);
            }
        }
        Py_DECREF(item);
    }
    return rc;
}

static PyObject *canon_emit(PyObject *self, PyObject *tree) {
    (void)self;
    if (scalar_fn == NULL || not_str_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "dangan._canon: configure() was not called");
        return NULL;
    }
    if (!PyDict_CheckExact(tree))
        Py_RETURN_NOTIMPLEMENTED;
    if (PyDict_GET_SIZE(tree) == 0)
        return PyUnicode_FromString("{}\n");
    Writer w;
    writer_init(&w);
    int rc = emit_mapping(&w, tree, 0, -1, 0);
    if (rc == OK)
        return writer_finish(&w);
    writer_dealloc(&w);
    if (rc == GIVE_UP)
        Py_RETURN_NONE;
    if (rc == NOT_MINE)
        Py_RETURN_NOTIMPLEMENTED;
    return NULL;  /* ERROR: the exception is set */
}

static PyObject *canon_configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *s, *k;
    if (!PyArg_ParseTuple(args, "OO", &s, &k))
        return NULL;
    if (!PyCallable_Check(s) || !PyCallable_Check(k)) {
        PyErr_SetString(PyExc_TypeError, "dangan._canon.configure takes two callables");
        return NULL;
    }
    Py_XSETREF(scalar_fn, Py_NewRef(s));
    Py_XSETREF(not_str_fn, Py_NewRef(k));
    Py_RETURN_NONE;
}


/* ------------------------------------------------------------------------- reading

   `parse(data)` reads a record's bytes as the canonical form is written: block mappings
   and sequences indented by two, "key: scalar", "key:" (null or a nested block), "{}",
   "[]", literal blocks, plain and single-quoted scalars. It returns the tree, or None
   for any text outside that form. It does not have to be right to be safe: yamlio accepts
   its tree only when `emit(tree)` gives the text back byte for byte, and the property
   tests prove that ruamel reads such a text as that tree. A mistake here can only make
   a canonical file take the slower readers. Every read is bounded by `end`. */

typedef struct {
    const char *p;    /* start of the next line (or of an item's first key, after "- ") */
    const char *end;
} Cur;

static PyObject *parse_mapping(Cur *c, Py_ssize_t indent, int inline_first, int depth);
static PyObject *parse_sequence(Cur *c, Py_ssize_t indent, int depth);

static Py_ssize_t spaces_at(const char *p, const char *end) {
    const char *q = p;
    while (q < end && *q == ' ')
        q++;
    return q - p;
}

static const char *eol_of(const char *p, const char *end) {
    return memchr(p, '\n', (size_t)(end - p));
}

static PyObject *text_of(const char *p, Py_ssize_t n) {
    return PyUnicode_DecodeUTF8(p, n, NULL);  /* NULL with UnicodeDecodeError: not ours */
}

static int all_digits(const char *p, const char *end) {
    if (p >= end)
        return 0;
    for (; p < end; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

static PyObject *parse_scalar(const char *v, Py_ssize_t n) {
    if (n >= 2 && v[0] == '\'') {
        if (v[n - 1] != '\'' || memchr(v + 1, '\'', (size_t)(n - 2)) != NULL)
            return NULL;
        return text_of(v + 1, n - 2);
    }
    if (v[0] == '"' || v[0] == '\'')
        return NULL;
    if (n == 4 && memcmp(v, "true", 4) == 0)
        Py_RETURN_TRUE;
    if (n == 5 && memcmp(v, "false", 5) == 0)
        Py_RETURN_FALSE;
    const char *digits = v[0] == '-' ? v + 1 : v;
    if (v + n - digits <= MAX_INT_DIGITS && all_digits(digits, v + n)) {
        /* longer ones stay text here; the emitter then gives the text back quoted, so the
           file is declined and the round-trip reader refuses it (DG101) */
        char buf[MAX_INT_DIGITS + 2];
        memcpy(buf, v, (size_t)n);
        buf[n] = '\0';
        return PyLong_FromString(buf, NULL, 10);
    }
    const char *dot = memchr(digits, '.', (size_t)(v + n - digits));
    if (n < 64 && dot != NULL && all_digits(digits, dot) && all_digits(dot + 1, v + n)) {
        char buf[65];
        memcpy(buf, v, (size_t)n);
        buf[n] = '\0';
        double d = PyOS_string_to_double(buf, NULL, NULL);
        if (d == -1.0 && PyErr_Occurred())
            return NULL;
        return PyFloat_FromDouble(d);
    }
    return text_of(v, n);
}

/* The lines of a literal block whose content is indented by `indent`; chomp is ' ', '-'
   or '+' for "|", "|-" and "|+". */
static PyObject *parse_literal(Cur *c, Py_ssize_t indent, char chomp) {
    const char *start = c->p;
    /* first pass: where the block ends and how long its text is */
    Py_ssize_t size = 0, lines = 0;
    const char *p = c->p;
    while (p < c->end) {
        const char *eol = eol_of(p, c->end);
        if (eol == NULL)
            return NULL;
        if (eol == p) {
            size += 1;
        } else if (spaces_at(p, eol) >= indent) {
            size += (eol - p) - indent + 1;
        } else {
            break;
        }
        lines++;
        p = eol + 1;
    }
    if (lines == 0)
        return NULL;
    char *buf = PyMem_Malloc((size_t)size + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    Py_ssize_t len = 0;
    for (const char *q = start; q < p;) {
        const char *eol = eol_of(q, p);
        if (eol != q) {
            memcpy(buf + len, q + indent, (size_t)(eol - q - indent));
            len += eol - q - indent;
        }
        buf[len++] = '\n';
        q = eol + 1;
    }
    c->p = p;
    if (chomp == '-')
        len -= 1;  /* the body without its last line break */
    PyObject *out = text_of(buf, len);
    PyMem_Free(buf);
    return out;
}

/* The value after "key:" or "- " on the line [v, eol): a scalar, {}, [] or a literal. */
static PyObject *parse_inline(Cur *c, const char *v, const char *eol, Py_ssize_t content_indent) {
    Py_ssize_t n = eol - v;
    if (n <= 0)
        return NULL;
    c->p = eol + 1;
    if (v[0] == '|') {
        if (n == 1)
            return parse_literal(c, content_indent, ' ');
        if (n == 2 && (v[1] == '-' || v[1] == '+'))
            return parse_literal(c, content_indent, v[1]);
        return NULL;
    }
    if (n == 2 && v[0] == '{' && v[1] == '}')
        return PyDict_New();
    if (n == 2 && v[0] == '[' && v[1] == ']')
        return PyList_New(0);
    return parse_scalar(v, n);
}

static PyObject *parse_mapping(Cur *c, Py_ssize_t indent, int inline_first, int depth) {
    if (depth > MAX_DEPTH)
        return NULL;
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    int first = 1;
    for (;;) {
        const char *k = c->p;
        if (!(first && inline_first)) {
            if (k >= c->end)
                break;
            Py_ssize_t ind = spaces_at(k, c->end);
            if (ind < indent)
                break;
            if (ind > indent || (k + ind + 1 < c->end && k[ind] == '-' && k[ind + 1] == ' '))
                goto decline;
            k += ind;
        }
        first = 0;
        const char *eol = eol_of(k, c->end);
        if (eol == NULL)
            goto decline;
        const char *colon = k;
        while (colon < eol && !(*colon == ':' && (colon + 1 == eol || colon[1] == ' ')))
            colon++;
        if (colon == eol || colon == k)
            goto decline;
        PyObject *key = text_of(k, colon - k);
        if (key == NULL)
            goto decline;
        PyObject *value;
        if (colon + 1 == eol) {  /* "key:" then a nested block, or null */
            c->p = eol + 1;
            Py_ssize_t next = c->p < c->end ? spaces_at(c->p, c->end) : -1;
            if (next == indent + 2) {
                const char *q = c->p + next;
                if (q + 1 < c->end && q[0] == '-' && q[1] == ' ')
                    value = parse_sequence(c, indent + 2, depth + 1);
                else
                    value = parse_mapping(c, indent + 2, 0, depth + 1);
            } else {
                value = Py_NewRef(Py_None);
            }
        } else {
            value = parse_inline(c, colon + 2, eol, indent + 2);
        }
        if (value == NULL) {
            Py_DECREF(key);
            goto decline;
        }
        int present = PyDict_Contains(dict, key);
        int rc = present == 0 ? PyDict_SetItem(dict, key, value) : -1;
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            goto decline;  /* a repeated key: not canonical */
    }
    if (PyDict_GET_SIZE(dict) == 0)
        goto decline;
    return dict;
decline:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *parse_sequence(Cur *c, Py_ssize_t indent, int depth) {
    if (depth > MAX_DEPTH)
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    while (c->p < c->end) {
        Py_ssize_t ind = spaces_at(c->p, c->end);
        if (ind < indent)
            break;
        const char *q = c->p + ind;
        if (ind > indent || !(q + 1 < c->end && q[0] == '-' && q[1] == ' '))
            break;  /* the caller decides: canonical text never continues like this */
        q += 2;
        const char *eol = eol_of(q, c->end);
        if (eol == NULL)
            goto decline;
        int is_map = eol > q && eol[-1] == ':';
        for (const char *r = q; !is_map && r + 1 < eol; r++)
            is_map = r[0] == ':' && r[1] == ' ';
        PyObject *item;
        if (q < eol && q[0] == '|') {
            item = parse_inline(c, q, eol, indent + 2);
        } else if (is_map) {
            c->p = q;
            item = parse_mapping(c, indent + 2, 1, depth + 1);
        } else {
            item = parse_inline(c, q, eol, indent + 2);
        }
        if (item == NULL)
            goto decline;
        int rc = PyList_Append(list, item);
        Py_DECREF(item);
        if (rc < 0)
            goto decline;
    }
    if (PyList_GET_SIZE(list) == 0)
        goto decline;
    return list;
decline:
    Py_DECREF(list);
    return NULL;
}

static PyObject *canon_parse(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "dangan._canon.parse takes bytes");
        return NULL;
    }
    Cur c = {PyBytes_AS_STRING(arg), PyBytes_AS_STRING(arg) + PyBytes_GET_SIZE(arg)};
    PyObject *tree = parse_mapping(&c, 0, 0, 0);
    if (tree != NULL && c.p != c.end) {
        Py_DECREF(tree);
        tree = NULL;
    }
    if (tree != NULL)
        return tree;
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError) && !PyErr_ExceptionMatches(PyExc_ValueError))
            return NULL;  /* out of memory */
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ fields

   `fields(data, wanted, nested)`: the line reader of formats/fields.py, compiled. Its Python
   `_read_lines` is the definition (the rules are in that module's docstring), and
   tests/test_fields_reader.py and tests/fuzz_canon_asan.py compare the two on generated
   texts: the same dict, None where it answers None (not sure: the caller parses fully), and
   UnicodeDecodeError or ValueError where it raises them. `wanted` and `nested` are sets of
   str. Every read is bounded by the bytes' length. */

static int unsure_first(char c) {
    return c != '\0' && strchr("\"|>[{&*!%@`", c) != NULL;
}

/* fields.scalar of the bytes [v, v + n) after "key:": 1 and a new reference in *out when
   sure, 0 when not, -1 with an exception (the text is not UTF-8, an int too long). */
static int fields_scalar(const char *v, Py_ssize_t n, PyObject **out) {
    PyObject *check = PyUnicode_DecodeUTF8(v, n, NULL);  /* the Python reader decodes first */
    if (check == NULL)
        return -1;
    Py_DECREF(check);
    if (n == 0) {
        *out = Py_NewRef(Py_None);  /* null, or a nested block */
        return 1;
    }
    if (v[0] != ' ' || v[n - 1] == ' ')
        return 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        if (v[i] == ' ' && v[i + 1] == '#')
            return 0;
    const char *t = v + 1;
    Py_ssize_t tn = n - 1;
    if ((tn == 4 && memcmp(t, "null", 4) == 0) || (tn == 1 && t[0] == '~')) {
        *out = Py_NewRef(Py_None);
        return 1;
    }
    if (t[0] == '\'') {
        if (tn < 2 || t[tn - 1] != '\'')
            return 0;
        const char *inner = t + 1;
        Py_ssize_t in = tn - 2, len = 0;
        char *buf = PyMem_Malloc((size_t)in + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < in; i++) {
            if (inner[i] == '\'') {
                if (i + 1 < in && inner[i + 1] == '\'') {
                    i++;  /* '' is one quote */
                } else {
                    PyMem_Free(buf);
                    return 0;  /* a quote alone: a quoted scalar that goes on */
                }
            }
            buf[len++] = inner[i];
        }
        *out = PyUnicode_DecodeUTF8(buf, len, NULL);
        PyMem_Free(buf);
        return *out == NULL ? -1 : 1;
    }
    if (unsure_first(t[0]))
        return 0;
    if (tn == 4 && memcmp(t, "true", 4) == 0) {
        *out = Py_NewRef(Py_True);
        return 1;
    }
    if (tn == 5 && memcmp(t, "false", 5) == 0) {
        *out = Py_NewRef(Py_False);
        return 1;
    }
    if (all_digits(t[0] == '-' ? t + 1 : t, t + tn)) {
        char *buf = PyMem_Malloc((size_t)tn + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(buf, t, (size_t)tn);
        buf[tn] = '\0';
        *out = PyLong_FromString(buf, NULL, 10);  /* int(text), with its limit on digits */
        PyMem_Free(buf);
        return *out == NULL ? -1 : 1;
    }
    *out = PyUnicode_DecodeUTF8(t, tn, NULL);
    return *out == NULL ? -1 : 1;
}

static Py_ssize_t line_end(const char *s, Py_ssize_t from, Py_ssize_t end) {
    const char *nl = memchr(s + from, '\n', (size_t)(end - from));
    return nl == NULL ? end : nl - s;
}

static int key_char(char c, int first) {
    return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* The scalar keys of the lines indented by two from `from` on (a nested key's block): a
   new dict; NULL with *unsure set when the reader is not sure, NULL with an exception. */
static PyObject *fields_children(const char *s, Py_ssize_t from, Py_ssize_t end, int *unsure) {
    *unsure = 0;
    PyObject *children = PyDict_New();
    if (children == NULL)
        return NULL;
    Py_ssize_t pos = from;
    while (pos < end) {
        Py_ssize_t eol = line_end(s, pos, end);
        const char *line = s + pos;
        Py_ssize_t n = eol - pos, k = 2;
        if (n < 2 || line[0] != ' ' || line[1] != ' ')
            break;
        if (k < n && key_char(line[k], 1)) {
            while (k < n && key_char(line[k], 0))
                k++;
            if (k < n && line[k] == ':') {  /* "  key:" and the rest: a scalar key */
                PyObject *value = NULL;
                int rc = fields_scalar(line + k + 1, n - k - 1, &value);
                if (rc <= 0) {
                    *unsure = rc == 0;
                    Py_DECREF(children);
                    return NULL;
                }
                PyObject *key = PyUnicode_DecodeUTF8(line + 2, k - 2, NULL);
                rc = key == NULL ? -1 : PyDict_SetItem(children, key, value);
                Py_XDECREF(key);
                Py_DECREF(value);
                if (rc < 0) {
                    Py_DECREF(children);
                    return NULL;
                }
            }
        }
        pos = eol + 1;
    }
    return children;
}

/* One line "name:rest" whose name is wanted: 1 read, 0 not sure, -1 an exception. */
static int fields_line(PyObject *found, PyObject *name, int is_nested, const char *s, Py_ssize_t colon,
                       Py_ssize_t eol, Py_ssize_t end) {
    int present = PyDict_Contains(found, name);
    if (present != 0)
        return present < 0 ? -1 : 0;  /* a key given twice: not sure */
    PyObject *value = NULL;
    if (is_nested && colon + 1 == eol) {
        int unsure = 0;
        value = fields_children(s, eol + 1, end, &unsure);
        if (value == NULL)
            return unsure ? 0 : -1;
    } else {
        int rc = fields_scalar(s + colon + 1, eol - colon - 1, &value);
        if (rc <= 0)
            return rc;
    }
    int rc = PyDict_SetItem(found, name, value);
    Py_DECREF(value);
    return rc < 0 ? -1 : 1;
}

typedef struct {
    const char *text;  /* the name's UTF-8, owned by `name` */
    Py_ssize_t size;
    PyObject *name;    /* borrowed from the set */
    int nested;
} Name;

/* The names of both sets in a table (nested ones first), so that a line's key is compared
   as bytes and a str is made only for the keys wanted: 0, or -1 with an exception. */
static int fields_names(PyObject *set, int nested, Name *table, Py_ssize_t *count) {
    PyObject *items = PyObject_GetIter(set);
    if (items == NULL)
        return -1;
    PyObject *item;
    while ((item = PyIter_Next(items)) != NULL) {
        Py_DECREF(item);  /* the set keeps it alive while fields runs (no Python code runs) */
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "dangan._canon.fields: field names are str");
            break;
        }
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize(item, &size);
        if (text == NULL)
            break;
        table[*count] = (Name){text, size, item, nested};
        *count += 1;
    }
    Py_DECREF(items);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *canon_fields(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data, *wanted, *nested;
    if (!PyArg_ParseTuple(args, "SOO", &data, &wanted, &nested))
        return NULL;
    if (!PyAnySet_Check(wanted) || !PyAnySet_Check(nested)) {
        PyErr_SetString(PyExc_TypeError, "dangan._canon.fields takes bytes and two sets of str");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data), end = size;
    /* a mapping's first line (fields._MAPPING_START): a plain key in column 0, then ": " or
       the line's end; anything else is the full parser's to judge */
    {
        const char *nl = size ? memchr(s, '\n', (size_t)size) : NULL;
        Py_ssize_t first = nl != NULL ? nl - s : size;
        const char *colon = size ? memchr(s, ':', (size_t)first) : NULL;
        unsigned char c = size ? (unsigned char)s[0] : 0;
        int keyish = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!keyish || colon == NULL || (colon + 1 < s + size && colon[1] != ' ' && colon[1] != '\n'))
            Py_RETURN_NONE;
    }
    Py_ssize_t count = 0;
    Name *names = PyMem_Malloc(sizeof(Name) * (size_t)(PySet_GET_SIZE(wanted) + PySet_GET_SIZE(nested) + 1));
    if (names == NULL)
        return PyErr_NoMemory();
    if (fields_names(nested, 1, names, &count) < 0 || fields_names(wanted, 0, names, &count) < 0) {
        PyMem_Free(names);
        return NULL;
    }
    /* the sops block (the last "\nsops:") is skipped when no line after it is in column 0 */
    for (Py_ssize_t at = size - 6; at >= 0; at--) {
        if (s[at] == '\n' && memcmp(s + at + 1, "sops:", 5) == 0) {
            end = at;
            for (Py_ssize_t i = at + 6; i + 1 < size; i++) {
                if (s[i] == '\n' && s[i + 1] != ' ' && s[i + 1] != '\n') {
                    end = size;
                    break;
                }
            }
            break;
        }
    }
    PyObject *found = PyDict_New();
    if (found == NULL) {
        PyMem_Free(names);
        return NULL;
    }
    for (Py_ssize_t pos = 0; pos < end;) {
        Py_ssize_t eol = line_end(s, pos, end);
        const char *colon = memchr(s + pos, ':', (size_t)(eol - pos));
        if (colon != NULL && colon > s + pos) {  /* "name:" in column 0, the name before the first colon */
            Py_ssize_t k = colon - (s + pos);
            for (Py_ssize_t i = 0; i < count; i++) {
                if (names[i].size != k || memcmp(names[i].text, s + pos, (size_t)k) != 0)
                    continue;
                int rc = fields_line(found, names[i].name, names[i].nested, s, colon - s, eol, end);
                if (rc <= 0) {
                    Py_DECREF(found);
                    PyMem_Free(names);
                    if (rc < 0)
                        return NULL;
                    Py_RETURN_NONE;
                }
                break;
            }
        }
        pos = eol + 1;
    }
    PyMem_Free(names);
    return found;
}

static PyMethodDef methods[] = {
    {"emit", canon_emit, METH_O, "The canonical text of a tree, None, or NotImplemented."},
    {"parse", canon_parse, METH_O, "The tree of a canonical record's bytes, or None."},
    {"fields", canon_fields, METH_VARARGS, "fields(data, wanted, nested): formats.fields._read_lines, compiled."},
    {"configure", canon_configure, METH_VARARGS, "configure(scalar, not_str_match)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_canon", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__canon(void) { return PyModule_Create(&module); }
