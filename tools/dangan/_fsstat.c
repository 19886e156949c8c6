/* dangan._fsstat: the modification times of many paths in one call.

   A warm `check --all` proves that nothing changed under vault/ by comparing the mtime of
   every folder (100,000 in a large vault) with the one remembered (scan.TreeMemo). In
   Python that is one os.stat call and one stat_result object per folder; here it is one
   fstatat(2) per folder relative to an open root folder, with the GIL released, and the
   result is one bytes object that compares with the remembered one by memcmp.
   Optional like _canon: scan.py does the same in Python without it.

   walk(root, top) lists every file and folder under `top` for the cold `check --all`
   (services/scan.py list_worktree): the same listing os.scandir gives, without a Python
   object per entry and with the GIL released (1.1 million folders at a million records). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
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

/* A growable byte buffer: the walk's output and its stack of folders to list. */
typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t more) {
    if (more > SIZE_MAX / 2 - b->len)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_add(Buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* "prefix/name\0" */
static int buf_path(Buf *b, const char *prefix, size_t plen, const char *name, size_t nlen) {
    if (buf_reserve(b, plen + nlen + 2) < 0)
        return -1;
    memcpy(b->data + b->len, prefix, plen);
    b->data[b->len + plen] = '/';
    memcpy(b->data + b->len + plen + 1, name, nlen);
    b->data[b->len + plen + 1 + nlen] = '\0';
    b->len += plen + nlen + 2;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One folder's entries: their names (NUL-ended) in `names`, their offsets in `at`. */
typedef struct {
    Buf names;
    size_t *at;
    size_t count, cap;
} Names;

static int names_add(Names *n, const char *name) {
    if (n->count == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(size_t))
            return -1;
        size_t *at = realloc(n->at, cap * sizeof(size_t));
        if (at == NULL)
            return -1;
        n->at = at;
        n->cap = cap;
    }
    n->at[n->count++] = n->names.len;
    return buf_add(&n->names, name, strlen(name) + 1);
}

/* The names as sorted pointers (into n->names, which no longer grows), or NULL. */
static const char **names_sorted(Names *n) {
    const char **sorted = malloc((n->count ? n->count : 1) * sizeof(char *));
    if (sorted == NULL)
        return NULL;
    for (size_t i = 0; i < n->count; i++)
        sorted[i] = n->names.data + n->at[i];
    qsort(sorted, n->count, sizeof(char *), by_name);
    return sorted;
}

/* walk(root: str, top: str) -> (files, folders, mtimes, links) | None

   Every entry under root/top, by paths relative to root that begin with `top`, each ended
   by a NUL byte: `files` in the order of a depth-first walk that lists a folder's files
   (sorted by their bytes) before its subfolders (sorted); `folders` (top first, then each
   folder as it is found) with `mtimes`, one native int64 each (st_mtime in ns, as
   os.stat's st_mtime_ns); `links`, the symbolic links, never followed. A folder's mtime is
   read before the folder is listed, so a change made meanwhile shows next time. A folder
   that cannot be listed (gone meanwhile) is left out, as scan.list_worktree does; None
   when top itself cannot be stat'ed (top alone is followed if it is a link). Anything
   that is neither a folder nor a link counts as a file. */
static PyObject *fs_walk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *root_obj, *top_obj;
    if (!PyArg_ParseTuple(args, "O&O&", PyUnicode_FSConverter, &root_obj, PyUnicode_FSConverter, &top_obj))
        return NULL;
    PyObject *out = NULL;
    Buf files = {0}, folders = {0}, mtimes = {0}, links = {0}, stack = {0};
    Names here = {0}, subs = {0};
    size_t *pending = NULL, npending = 0, cap_pending = 0;
    int failed = 0, missing = 0, rootfd = -1;
    char path[PATH_MAX + 1];
    const char *top = PyBytes_AS_STRING(top_obj);
    rootfd = open(PyBytes_AS_STRING(root_obj), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, root_obj);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    struct stat st;
    size_t toplen = strlen(top);
    if (toplen > PATH_MAX || fstatat(rootfd, top, &st, 0) != 0) {  /* as os.stat: a link is followed */
        missing = 1;
        goto walked;
    }
    int64_t t = MTIME_NS(st);
    if (buf_add(&folders, top, toplen + 1) < 0 || buf_add(&mtimes, &t, sizeof t) < 0
        || buf_add(&stack, top, toplen + 1) < 0) {
        failed = 1;
        goto walked;
    }
    cap_pending = 64;
    pending = malloc(cap_pending * sizeof(size_t));
    if (pending == NULL) {
        failed = 1;
        goto walked;
    }
    pending[npending++] = 0;
    while (npending) {
        size_t at = pending[--npending];
        size_t plen = strlen(stack.data + at);
        memcpy(path, stack.data + at, plen + 1);  /* plen <= PATH_MAX: checked when pushed */
        stack.len = at;  /* popped: the last pushed is the last in the buffer */
        int fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (at ? O_NOFOLLOW : 0));
        if (fd < 0)
            continue;  /* gone meanwhile: its parent's mtime has changed */
        DIR *dir = fdopendir(fd);
        if (dir == NULL) {
            close(fd);
            continue;
        }
        here.count = here.names.len = subs.count = subs.names.len = 0;
        struct dirent *entry;
        for (;;) {
            errno = 0;
            entry = readdir(dir);
            if (entry == NULL)
                break;
            const char *name = entry->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            unsigned char type = entry->d_type;
            if (type == DT_UNKNOWN) {  /* some file systems do not say: ask */
                struct stat s;
                if (fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) != 0)
                    continue;  /* gone meanwhile */
                type = S_ISDIR(s.st_mode) ? DT_DIR : S_ISLNK(s.st_mode) ? DT_LNK : DT_REG;
            }
            if (type == DT_LNK) {
                if (buf_path(&links, path, plen, name, strlen(name)) < 0)
                    failed = 1;
            } else if (names_add(type == DT_DIR ? &subs : &here, name) < 0) {
                failed = 1;
            }
            if (failed)
                break;
        }
        if (failed) {
            closedir(dir);
            goto walked;
        }
        const char **sorted = names_sorted(&here);
        if (sorted == NULL) {
            closedir(dir);
            failed = 1;
            goto walked;
        }
        for (size_t i = 0; i < here.count && !failed; i++)
            failed = buf_path(&files, path, plen, sorted[i], strlen(sorted[i])) < 0;
        free(sorted);
        sorted = failed ? NULL : names_sorted(&subs);
        if (sorted == NULL) {
            closedir(dir);
            failed = 1;
            goto walked;
        }
        /* each subfolder's mtime, read now (before it is listed); pushed last first, so
           that the first in order is listed next */
        for (size_t i = 0; i < subs.count && !failed; i++) {
            size_t nlen = strlen(sorted[i]);
            struct stat s;
            if (plen + 1 + nlen > PATH_MAX || fstatat(fd, sorted[i], &s, AT_SYMLINK_NOFOLLOW) != 0
                || !S_ISDIR(s.st_mode)) {
                sorted[i] = NULL;  /* too deep to name, or gone or replaced meanwhile */
                continue;
            }
            int64_t m = MTIME_NS(s);
            failed = buf_path(&folders, path, plen, sorted[i], nlen) < 0 || buf_add(&mtimes, &m, sizeof m) < 0;
        }
        for (size_t i = subs.count; i-- > 0 && !failed;) {
            if (sorted[i] == NULL)
                continue;
            if (npending == cap_pending) {
                size_t *grown = cap_pending < SIZE_MAX / 2 / sizeof(size_t)
                    ? realloc(pending, cap_pending * 2 * sizeof(size_t)) : NULL;
                if (grown == NULL) {
                    failed = 1;
                    break;
                }
                pending = grown;
                cap_pending *= 2;
            }
            pending[npending++] = stack.len;
            failed = buf_path(&stack, path, plen, sorted[i], strlen(sorted[i])) < 0;
        }
        free(sorted);
        closedir(dir);
        if (failed)
            goto walked;
    }
walked:
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
    } else if (missing) {
        Py_INCREF(Py_None);
        out = Py_None;
    } else {
        out = Py_BuildValue("(y#y#y#y#)", files.data ? files.data : "", (Py_ssize_t)files.len,
                            folders.data, (Py_ssize_t)folders.len, mtimes.data, (Py_ssize_t)mtimes.len,
                            links.data ? links.data : "", (Py_ssize_t)links.len);
    }
done:
    if (rootfd >= 0)
        close(rootfd);
    free(files.data);
    free(folders.data);
    free(mtimes.data);
    free(links.data);
    free(stack.data);
    free(here.names.data);
    free(here.at);
    free(subs.names.data);
    free(subs.at);
    free(pending);
    Py_DECREF(root_obj);
    Py_DECREF(top_obj);
    return out;
}

static PyMethodDef methods[] = {
    {"mtimes", fs_mtimes, METH_VARARGS, "mtimes(root, names) -> packed int64 mtimes (ns)"},
    {"walk", fs_walk, METH_VARARGS, "walk(root, top) -> (files, folders, mtimes, links) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fsstat", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fsstat(void) { return PyModule_Create(&module); }
