/* dangan._fsstat: the modification times of many paths in one call.

   A warm `check --all` proves that nothing changed under vault/ by comparing the mtime of
   every folder (100,000 in a large vault) with the one remembered (scan.TreeMemo). In
   Python that is one os.stat call and one stat_result object per folder; here it is one
   fstatat(2) per folder relative to an open root folder, with the GIL released, and the
   result is one bytes object that compares with the remembered one by memcmp.
   Optional like _canon: scan.py does the same in Python without it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* st_mtime in nanoseconds, as os.stat's st_mtime_ns: Linux and most systems name the
   field st_mtim, macOS st_mtimespec (pyconfig.h says which, as for posixmodule.c). */
#if defined(HAVE_STAT_TV_NSEC)
#define MTIME_NS(st) ((int64_t)(st).st_mtim.tv_sec * 1000000000 + (int64_t)(st).st_mtim.tv_nsec)
#elif defined(HAVE_STAT_TV_NSEC2)
#define MTIME_NS(st) ((int64_t)(st).st_mtimespec.tv_sec * 1000000000 + (int64_t)(st).st_mtimespec.tv_nsec)
#else
#define MTIME_NS(st) ((int64_t)(st).st_mtime * 1000000000)
#endif

/* mtimes(root: str, names: bytes) -> bytes

   `names` are paths relative to `root`, each followed by a NUL byte. The result holds one
   signed 64-bit integer per name in native byte order (what array('q').tobytes() gives):
   st_mtime in nanoseconds, or -1 for a name that cannot be stat'ed (gone, too long). */
static PyObject *fs_mtimes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *root_obj;
    Py_buffer names;
    if (!PyArg_ParseTuple(args, "O&y*", PyUnicode_FSConverter, &root_obj, &names))
        return NULL;
    const char *p = names.buf, *end = p + names.len;
    Py_ssize_t count = 0;
    for (const char *q = p; q < end; q++)
        count += *q == '\0';
    PyObject *out = NULL;
    int dir = -1;
    if (count > PY_SSIZE_T_MAX / 8) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, count * 8);
    if (out == NULL)
        goto done;
    dir = open(PyBytes_AS_STRING(root_obj), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, root_obj);
        Py_CLEAR(out);
        goto done;
    }
    int64_t *times = (int64_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));  /* found: count said so */
        struct stat st;
        times[i] = fstatat(dir, p, &st, AT_SYMLINK_NOFOLLOW) == 0 ? MTIME_NS(st) : -1;
        p = z + 1;
    }
    Py_END_ALLOW_THREADS
    close(dir);
done:
    Py_DECREF(root_obj);
    PyBuffer_Release(&names);
    return out;
}

static PyMethodDef methods[] = {
    {"mtimes", fs_mtimes, METH_VARARGS, "mtimes(root, names) -> packed int64 mtimes (ns)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fsstat", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fsstat(void) { return PyModule_Create(&module); }
