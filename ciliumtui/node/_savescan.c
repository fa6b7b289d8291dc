/* The hot loop of ciliumtui.node.netfilter.SaveParser, in C (optional: the package
 * works without it, as PyYAML without its _yaml).
 *
 * scan_rules(lines, start, rules, rule_type, owned, is_cilium_chain) -> int
 *
 * Reads `lines` (a list of str) from `start` and appends rule_type(chain, line,
 * target, comment, cilium) to `rules` for every plain `-A CHAIN ...`/`-I CHAIN ...`
 * line, exactly as netfilter._scan_rules (the Python reference) does; it skips empty,
 * `#` and other `-` lines as that does, and returns the index of the first line it
 * leaves to the Python parser: a table, chain or COMMIT line, a line with leading or
 * trailing blanks, a comment with an escaped or missing closing quote, or a line
 * with a character above U+00FF. Ownership is memoised in `owned` ({name: bool}),
 * asking is_cilium_chain(name) on a miss, so the rule itself stays in Python
 * (ciliumtui.ownership).
 *
 * Why C: parse_save of 20,000 rules takes 51-57 ms with the Python scan, 14-17 ms
 * with this one (best of 9, 2-core VM), and a snapshot waits for this parse after
 * iptables-nft-save's last line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Index of c in s[from:n], or -1. */
static Py_ssize_t find_char(const Py_UCS1 *s, Py_ssize_t n, Py_UCS1 c, Py_ssize_t from)
{
    if (from >= n)
        return -1;
    const Py_UCS1 *p = memchr(s + from, c, (size_t)(n - from));
    return p ? p - s : -1;
}

/* Index of the 4-byte needle wholly inside s[from:to], the rightmost, or -1
 * (str.rfind(needle, from, to)). */
static Py_ssize_t rfind4(const Py_UCS1 *s, Py_ssize_t from, Py_ssize_t to, const char *needle)
{
    for (Py_ssize_t i = to - 4; i >= from; i--) {
        if (s[i] == (Py_UCS1)needle[0] && memcmp(s + i, needle, 4) == 0)
            return i;
    }
    return -1;
}

/* Index of the 10-byte "--comment " in s[0:n], the leftmost, or -1. */
static Py_ssize_t find_comment(const Py_UCS1 *s, Py_ssize_t n)
{
    static const char needle[] = "--comment ";
    Py_ssize_t from = 0;
    while (from + 10 <= n) {
        const Py_UCS1 *p = memchr(s + from, '-', (size_t)(n - 10 - from + 1));
        if (p == NULL)
            return -1;
        Py_ssize_t i = p - s;
        if (memcmp(p, needle, 10) == 0)
            return i;
        from = i + 1;
    }
    return -1;
}

static PyObject *sub(const Py_UCS1 *s, Py_ssize_t a, Py_ssize_t b)
{
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s + a, b - a);
}

/* `last` again (a new reference) when its text is s[0:n], else a new str. */
static PyObject *reuse(PyObject *last, const Py_UCS1 *s, Py_ssize_t n)
{
    if (last != NULL && PyUnicode_GET_LENGTH(last) == n &&
        PyUnicode_KIND(last) == PyUnicode_1BYTE_KIND &&
        memcmp(PyUnicode_1BYTE_DATA(last), s, (size_t)n) == 0)
        return Py_NewRef(last);
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s, n);
}

/* owned[name], computed with is_cilium(name) on a miss; a new reference, NULL on error. */
static PyObject *owned_get(PyObject *owned, PyObject *is_cilium, PyObject *name)
{
    PyObject *known = PyDict_GetItemWithError(owned, name);
    if (known != NULL) {
        Py_INCREF(known);
        return known;
    }
    if (PyErr_Occurred())
        return NULL;
    known = PyObject_CallOneArg(is_cilium, name);
    if (known == NULL)
        return NULL;
    if (PyDict_SetItem(owned, name, known) < 0) {
        Py_DECREF(known);
        return NULL;
    }
    return known;
}

static PyObject *scan_rules(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "scan_rules() takes 6 arguments");
        return NULL;
    }
    PyObject *lines = args[0], *rules = args[2], *rule_type = args[3];
    PyObject *owned = args[4], *is_cilium = args[5];
    if (!PyList_Check(lines) || !PyList_Check(rules) || !PyDict_Check(owned)) {
        PyErr_SetString(PyExc_TypeError, "scan_rules(list, int, list, type, dict, callable)");
        return NULL;
    }
    /* Rules come in runs of one chain with a few targets: the previous line's chain
     * and target are reused (no new str, no hash, no lookup) when the bytes match. */
    PyObject *last_chain = NULL, *last_chain_owned = NULL, *last_target = NULL;
    PyObject *result = NULL;
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 0)
        i = 0;

    for (; i < PyList_GET_SIZE(lines); i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_Check(line) || PyUnicode_KIND(line) != PyUnicode_1BYTE_KIND)
            break;
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(line);
        Py_ssize_t n = PyUnicode_GET_LENGTH(line);
        if (n == 0)
            continue;
        if (s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == '\r')
            break;
        if (s[0] == '#')
            continue;
        if (s[0] != '-')
            break;
        if (n < 3 || (s[1] != 'A' && s[1] != 'I') || s[2] != ' ')
            continue;

        Py_ssize_t sp = find_char(s, n, ' ', 3);
        Py_ssize_t c = find_comment(s, n);
        Py_ssize_t cs = -1, ce = -1, end = 0, t, g;
        if (c < 0) {
            t = rfind4(s, 0, n, " -j ");
            g = rfind4(s, 0, n, " -g ");
        } else {
            Py_ssize_t j = c + 10;
            if (j < n && s[j] == '"') {
                Py_ssize_t k = find_char(s, n, '"', j + 1);
                if (k < 0 || s[k - 1] == '\\')
                    break; /* escaped or missing quote: netfilter._comment */
                cs = j + 1;
                ce = k;
                end = k + 1;
            } else {
                end = find_char(s, n, ' ', j);
                if (end < 0)
                    end = n;
                cs = j;
                ce = end;
            }
            /* The target follows the comment match; if nothing does, it came before. */
            t = rfind4(s, end, n, " -j ");
            g = rfind4(s, end, n, " -g ");
            if (t < 0 && g < 0) {
                t = rfind4(s, 0, c, " -j ");
                g = rfind4(s, 0, c, " -g ");
            }
        }
        if (g > t)
            t = g;

        PyObject *chain, *target = NULL, *comment = NULL, *cilium = NULL, *rule = NULL;
        chain = reuse(last_chain, s + 3, (sp > 0 ? sp : n) - 3);
        if (chain == NULL)
            goto out;
        if (t >= 0) {
            Py_ssize_t e = find_char(s, n, ' ', t + 4);
            target = reuse(last_target, s + t + 4, (e < 0 ? n : e) - t - 4);
            if (target == NULL)
                goto fail;
        }
        if (cs >= 0) {
            comment = sub(s, cs, ce);
            if (comment == NULL)
                goto fail;
        }
        if (chain == last_chain) {
            cilium = last_chain_owned;
            Py_INCREF(cilium);
        } else {
            cilium = owned_get(owned, is_cilium, chain);
            if (cilium == NULL)
                goto fail;
            Py_XSETREF(last_chain, Py_NewRef(chain));
            Py_XSETREF(last_chain_owned, Py_NewRef(cilium));
        }
        if (target != NULL) {
            Py_XSETREF(last_target, Py_NewRef(target));
            int yes = PyObject_IsTrue(cilium);
            if (yes < 0)
                goto fail;
            if (!yes) {
                Py_DECREF(cilium);
                cilium = owned_get(owned, is_cilium, target);
                if (cilium == NULL)
                    goto fail;
            }
        }
        PyObject *argv[5] = {chain, line, target ? target : Py_None, comment ? comment : Py_None,
                             cilium};
        rule = PyObject_Vectorcall(rule_type, argv, 5, NULL);
        if (rule == NULL || PyList_Append(rules, rule) < 0)
            goto fail;
        Py_DECREF(rule);
        Py_DECREF(cilium);
        Py_XDECREF(comment);
        Py_XDECREF(target);
        Py_DECREF(chain);
        continue;
    fail:
        Py_XDECREF(rule);
        Py_XDECREF(cilium);
        Py_XDECREF(comment);
        Py_XDECREF(target);
        Py_DECREF(chain);
        goto out;
    }
    result = PyLong_FromSsize_t(i);
out:
    Py_XDECREF(last_chain);
    Py_XDECREF(last_chain_owned);
    Py_XDECREF(last_target);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_rules", (PyCFunction)(void (*)(void))scan_rules, METH_FASTCALL,
     "scan_rules(lines, start, rules, rule_type, owned, is_cilium_chain) -> int"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_savescan",
    .m_doc = "The iptables-save rule scan, in C (ciliumtui.node.netfilter._scan_rules).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__savescan(void)
{
    return PyModule_Create(&module);
}
