/* dangan._canon: the canonical emitter of yamlio.dump_fast, compiled.

   `emit(tree)` returns exactly what the pure-Python `yamlio._dump_fast_py(tree)` returns
   (the canonical text, or None when the tree needs ruamel's emitter), or NotImplemented
   for a tree it leaves to the Python code (containers that are subclasses of dict or list,
   nesting deeper than MAX_DEPTH). It decides only the common cases itself: the structure
   (indentation, "key: ", "- "), exact ints, booleans, None, and strings that are plainly
   plain (they start with a letter, "_" or a non-ASCII character and hold only characters
   that YAML allows unquoted). Every other scalar, key and multi-line string is passed to the
   Python functions given to `configure` (yamlio._scalar, yamlio._literal, yamlio._key_ok),
   so there is one definition of the hard rules. The property tests in tests/test_yamlio.py
   compare this module with the Python emitter on generated trees.

   Memory: the output grows in one buffer (PyMem); every exit path frees it. Input strings
   are read through the public PyUnicode API with their own lengths. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAX_DEPTH 200

static PyObject *scalar_fn = NULL;   /* yamlio._scalar(value) -> str | None */
static PyObject *literal_fn = NULL;  /* yamlio._literal(value, indent) -> str | None */
static PyObject *not_str_fn = NULL;  /* yamlio._NOT_STR.match(text) -> Match | None */

typedef _PyUnicodeWriter Writer;

/* results of the emitting functions */
#define OK 0
#define GIVE_UP 1     /* the Python emitter would return None */
#define NOT_MINE 2    /* leave the whole tree to the Python emitter */
#define ERROR 3       /* a Python exception is set */
#define EMPTY 4       /* a scalar whose text is empty (None): nothing was written */

static const char SPACES[] = "                                                                ";

static int put_ascii(Writer *w, const char *s, Py_ssize_t n) {
    return _PyUnicodeWriter_WriteASCIIString(w, s, n) < 0 ? ERROR : OK;
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

static int put_str(Writer *w, PyObject *s) {
    return _PyUnicodeWriter_WriteStr(w, s) < 0 ? ERROR : OK;
}

/* Characters of yamlio._PLAIN_CHARS. */
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

/* 1 for the two shapes of date most records hold, which _NOT_STR reads as timestamps:
   "2024-01-31" and "2024-01-31T08:30:00+08:00" (digits where D stands:
   DDDD-DD-DD and DDDD-DD-DDTDD:DD:DD+DD:DD or -DD:DD). Anything else: 0 (ask _NOT_STR). */
static int date_shaped(PyObject *s) {
    static const char *shapes[] = {"DDDD-DD-DD", "DDDD-DD-DDTDD:DD:DD+DD:DD", "DDDD-DD-DDTDD:DD:DD-DD:DD"};
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

/* yamlio._reads_as_str(s) for a str with plain syntax: 1, 0, or -1 with an exception.

   The resolvers of _NOT_STR start with one of "~<=+-." or a digit, or are one of the
   words true/True/TRUE, false/False/FALSE, null/Null/NULL (or match the empty text, which
   never gets here); a text starting otherwise reads as a string without asking the
   regular expression. tests/test_yamlio.py checks this claim against _NOT_STR. */
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
    if (date_shaped(s))
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
    if (PyLong_CheckExact(value)) {
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
    if (!PyUnicode_CheckExact(key) || PyUnicode_GET_LENGTH(key) == 0 || !plain_syntax(key))
        return GIVE_UP;
    int is_str = reads_as_str(key);
    return is_str < 0 ? ERROR : (is_str ? OK : GIVE_UP);
}

/* yamlio._literal(value, indent): a literal block, as ruamel writes one. */
static int put_literal(Writer *w, PyObject *value, Py_ssize_t indent) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    /* _literal_ok and _PLAIN_CHARS over the text without its line breaks */
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
                    || _PyUnicodeWriter_WriteSubstring(w, value, start, i) < 0)
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
    if (scalar_fn == NULL || literal_fn == NULL || not_str_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "dangan._canon: configure() was not called");
        return NULL;
    }
    if (!PyDict_CheckExact(tree))
        Py_RETURN_NOTIMPLEMENTED;
    if (PyDict_GET_SIZE(tree) == 0)
        return PyUnicode_FromString("{}\n");
    Writer w;
    _PyUnicodeWriter_Init(&w);
    w.overallocate = 1;
    int rc = emit_mapping(&w, tree, 0, -1, 0);
    if (rc == OK)
        return _PyUnicodeWriter_Finish(&w);
    _PyUnicodeWriter_Dealloc(&w);
    if (rc == GIVE_UP)
        Py_RETURN_NONE;
    if (rc == NOT_MINE)
        Py_RETURN_NOTIMPLEMENTED;
    return NULL;  /* ERROR: the exception is set */
}

static PyObject *canon_configure(PyObject *self, PyObject *args) {
    PyObject *s, *l, *k;
    if (!PyArg_ParseTuple(args, "OOO", &s, &l, &k))
        return NULL;
    if (!PyCallable_Check(s) || !PyCallable_Check(l) || !PyCallable_Check(k)) {
        PyErr_SetString(PyExc_TypeError, "dangan._canon.configure takes three callables");
        return NULL;
    }
    Py_XSETREF(scalar_fn, Py_NewRef(s));
    Py_XSETREF(literal_fn, Py_NewRef(l));
    Py_XSETREF(not_str_fn, Py_NewRef(k));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"emit", canon_emit, METH_O, "The canonical text of a tree, None, or NotImplemented."},
    {"configure", canon_configure, METH_VARARGS, "configure(scalar, literal, not_str_match)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_canon", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__canon(void) { return PyModule_Create(&module); }
