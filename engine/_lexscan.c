/*
 * negated() of engine/lexicons.py in C, for ASCII words views (the usual case once folded).
 *
 * engine.lexicons.negated (with _free_shipping) is the definition and handles every text; this
 * gives exactly the same answer for ASCII text, step by step the same string operations
 * (windows cut where Python slices them, str.split() on whitespace, str.find with Python's
 * bounds), several times faster (tests/test_lexscan.py compares the two). The cue words are
 * data: engine.lexicons hands them over once (set_tables), so a new negation word needs no change
 * here. Each word of the tables carries a bit per set it belongs to (the order of CUE_SETS in
 * engine/lexicons.py), and the phrases of the three phrase tables it starts or ends.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The bits of a word: the order of engine.lexicons.CUE_SETS. */
enum {
    NEGATION_END = 1 << 0,   /* last word of a NEGATIONS phrase */
    DUTCH_END = 1 << 1,      /* last word of a Dutch negation */
    AFTER_START = 1 << 2,    /* first word of an _AFTER phrase */
    FREE = 1 << 3,
    NOT_AFTER_FREE = 1 << 4,
    UNSEEN_BY = 1 << 5,
    ALTERNATIVE = 1 << 6,
    ALTERNATIVE_TO = 1 << 7,
    NOT_AFTER_ALTERNATIVE = 1 << 8,
    NO = 1 << 9,
    CUES_AFTER = 1 << 10,
    AND = 1 << 11,
    ARTICLE = 1 << 12,
    DUTCH_OR = 1 << 13,
    ELISION_HOST = 1 << 14,
    BUT = 1 << 15,
    ELIDED = 1 << 16,        /* an elided article after "alternative … to" ("i", "d") */
    ELIDED_L = 1 << 17,      /* "l'" read as "i": no coordinator after an elision host */
};
/* The phrase tables a word may key: phrases ending with it, phrases starting with it. */
enum { NEGATIONS = 0, DUTCH_NEGATIONS = 1, AFTER = 2, GROUPS = 3 };

typedef struct {
    PyObject *word; /* bytes; NULL: free slot */
    unsigned long mask;
    PyObject *groups[GROUPS]; /* tuples of bytes, or NULL */
} Entry;

static Entry *table = NULL;
static size_t table_size = 0; /* a power of two */
static Py_ssize_t longest_word = 0;
static PyObject *stem = NULL, *free_suffix = NULL; /* bytes */
static Py_ssize_t reach_before = 0, list_reach = 0, middle_reach = 0;

static size_t hash_of(const char *s, Py_ssize_t n) {
    size_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static Entry *lookup(const char *s, Py_ssize_t n) {
    if (table == NULL || n > longest_word) return NULL;
    for (size_t i = hash_of(s, n) & (table_size - 1);; i = (i + 1) & (table_size - 1)) {
        Entry *e = &table[i];
        if (e->word == NULL) return NULL;
        if (PyBytes_GET_SIZE(e->word) == n && memcmp(PyBytes_AS_STRING(e->word), s, (size_t)n) == 0) return e;
    }
}

static unsigned long mask_of(const char *s, Py_ssize_t n) {
    Entry *e = lookup(s, n);
    return e ? e->mask : 0;
}

static void clear_table(void) {
    if (table == NULL) return;
    for (size_t i = 0; i < table_size; i++) {
        Py_XDECREF(table[i].word);
        for (int g = 0; g < GROUPS; g++) Py_XDECREF(table[i].groups[g]);
    }
    PyMem_Free(table);
    table = NULL;
    table_size = 0;
    longest_word = 0;
}

/* set_tables(entries, stem, free_suffix, reach_before, list_reach, middle_reach): entries are
 * (word, mask, negations, dutch negations, after phrases), each phrase table a tuple of bytes or
 * None. */
static PyObject *set_tables(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *entries, *new_stem, *new_suffix;
    Py_ssize_t before, list, middle;
    if (!PyArg_ParseTuple(args, "O!SSnnn", &PyList_Type, &entries, &new_stem, &new_suffix, &before, &list, &middle))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(entries);
    size_t size = 16;
    while (size < (size_t)count * 4) size *= 2;
    Entry *fresh = PyMem_Calloc(size, sizeof(Entry));
    if (fresh == NULL) return PyErr_NoMemory();
    Py_ssize_t longest = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *item = PyList_GET_ITEM(entries, k), *word, *groups[GROUPS];
        unsigned long mask;
        if (!PyArg_ParseTuple(item, "SkOOO", &word, &mask, &groups[0], &groups[1], &groups[2])) goto fail;
        for (int g = 0; g < GROUPS; g++) {
            if (groups[g] == Py_None) continue;
            if (!PyTuple_Check(groups[g])) goto type_error;
            for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(groups[g]); p++)
                if (!PyBytes_Check(PyTuple_GET_ITEM(groups[g], p))) goto type_error;
        }
        const char *s = PyBytes_AS_STRING(word);
        Py_ssize_t n = PyBytes_GET_SIZE(word);
        size_t i = hash_of(s, n) & (size - 1);
        while (fresh[i].word != NULL) {
            if (PyBytes_GET_SIZE(fresh[i].word) == n && memcmp(PyBytes_AS_STRING(fresh[i].word), s, (size_t)n) == 0) {
                PyErr_SetString(PyExc_ValueError, "set_tables(): a word is given twice");
                goto fail;
            }
            i = (i + 1) & (size - 1);
        }
        Py_INCREF(word);
        fresh[i].word = word;
        fresh[i].mask = mask;
        for (int g = 0; g < GROUPS; g++)
            if (groups[g] != Py_None) {
                Py_INCREF(groups[g]);
                fresh[i].groups[g] = groups[g];
            }
        if (n > longest) longest = n;
    }
    clear_table();
    table = fresh;
    table_size = size;
    longest_word = longest;
    Py_INCREF(new_stem);
    Py_XSETREF(stem, new_stem);
    Py_INCREF(new_suffix);
    Py_XSETREF(free_suffix, new_suffix);
    reach_before = before;
    list_reach = list;
    middle_reach = middle;
    Py_RETURN_NONE;
type_error:
    PyErr_SetString(PyExc_TypeError, "set_tables(): phrase tables are tuples of bytes or None");
fail:
    for (size_t i = 0; i < size; i++) {
        Py_XDECREF(fresh[i].word);
        for (int g = 0; g < GROUPS; g++) Py_XDECREF(fresh[i].groups[g]);
    }
    PyMem_Free(fresh);
    return NULL;
}

/* The text and Python's slicing and searching on it. */
typedef struct {
    const char *t;
    Py_ssize_t n;
} Text;

typedef struct {
    Py_ssize_t s, e;
} Span;

/* Windows are at most 96 characters: at most 48 words. */
#define MAX_WORDS 64

static Py_ssize_t clamp(Py_ssize_t i, Py_ssize_t n) { return i < 0 ? 0 : i > n ? n : i; }

/* str.isspace() of an ASCII character. */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }

/* text[a:b].split()[:limit]: word spans in text coordinates; their number. */
static int split_first_words(const Text *x, Py_ssize_t a, Py_ssize_t b, Span *out, int limit) {
    a = clamp(a, x->n);
    b = clamp(b, x->n);
    int count = 0;
    for (Py_ssize_t i = a; i < b && count < limit;) {
        while (i < b && is_space(x->t[i])) i++;
        if (i == b) break;
        Py_ssize_t s = i;
        while (i < b && !is_space(x->t[i])) i++;
        out[count].s = s;
        out[count].e = i;
        count++;
    }
    return count;
}

/* text[a:b].split() */
static int split_words(const Text *x, Py_ssize_t a, Py_ssize_t b, Span *out) { return split_first_words(x, a, b, out, MAX_WORDS); }

static unsigned long word_mask(const Text *x, Span w) { return mask_of(x->t + w.s, w.e - w.s); }

/* text.find(c, a, b) */
static Py_ssize_t find_char(const Text *x, char c, Py_ssize_t a, Py_ssize_t b) {
    b = clamp(b, x->n);
    for (Py_ssize_t i = clamp(a, x->n); i < b; i++)
        if (x->t[i] == c) return i;
    return -1;
}

/* text.find(sub, a, b) */
static Py_ssize_t find_bytes(const Text *x, PyObject *sub, Py_ssize_t a, Py_ssize_t b) {
    const char *s = PyBytes_AS_STRING(sub);
    Py_ssize_t m = PyBytes_GET_SIZE(sub);
    a = clamp(a, x->n);
    b = clamp(b, x->n);
    if (m == 0) return a <= b ? a : -1;
    for (Py_ssize_t i = a; i + m <= b; i++) { /* memchr to each candidate first byte */
        const char *first = memchr(x->t + i, s[0], (size_t)(b - m + 1 - i));
        if (first == NULL) return -1;
        i = first - x->t;
        if (memcmp(x->t + i, s, (size_t)m) == 0) return i;
    }
    return -1;
}

/* text[a:b].split(" ", 1)[0]: its bits. */
static unsigned long first_piece_mask(const Text *x, Py_ssize_t a, Py_ssize_t b) {
    a = clamp(a, x->n);
    b = clamp(b, x->n);
    Py_ssize_t e = a;
    while (e < b && x->t[e] != ' ') e++;
    return mask_of(x->t + a, e - a);
}

/* _ends_with_negation(buf[0:len], negations) */
static int ends_with_negation(const char *buf, Py_ssize_t len, int which) {
    Py_ssize_t end = len > 0 ? len - 1 : 0, k = -1;
    for (Py_ssize_t i = end - 1; i >= 0; i--)
        if (buf[i] == ' ') {
            k = i;
            break;
        }
    Entry *e = lookup(buf + k + 1, end - (k + 1));
    if (e == NULL || e->groups[which] == NULL) return 0;
    PyObject *phrases = e->groups[which];
    for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(phrases); p++) {
        PyObject *phrase = PyTuple_GET_ITEM(phrases, p);
        Py_ssize_t m = PyBytes_GET_SIZE(phrase);
        if (m <= len && memcmp(buf + len - m, PyBytes_AS_STRING(phrase), (size_t)m) == 0) return 1;
    }
    return 0;
}

/* _absent_after(text, stop) */
static int absent_after(const Text *x, Py_ssize_t stop) {
    Py_ssize_t end = find_char(x, ' ', stop + 1, stop + 40);
    Py_ssize_t ws = end > 0 ? clamp(stop + 1, x->n) : 0, we = end > 0 ? end : 0;
    Entry *word = lookup(x->t + ws, we > ws ? we - ws : 0);
    if (word == NULL || !(word->mask & CUES_AFTER)) return 0;
    PyObject *phrases = word->groups[AFTER];
    for (Py_ssize_t p = 0; phrases != NULL && p < PyTuple_GET_SIZE(phrases); p++) {
        PyObject *phrase = PyTuple_GET_ITEM(phrases, p);
        Py_ssize_t m = PyBytes_GET_SIZE(phrase);
        if (stop <= x->n && m <= x->n - stop && memcmp(x->t + stop, PyBytes_AS_STRING(phrase), (size_t)m) == 0)
            return !(first_piece_mask(x, stop + m, stop + m + 24) & UNSEEN_BY);
    }
    unsigned long following = first_piece_mask(x, end + 1, end + 24);
    if (word->mask & FREE) return !(following & NOT_AFTER_FREE);
    if (word->mask & ALTERNATIVE) return !(following & NOT_AFTER_ALTERNATIVE);
    if (!(word->mask & NO)) return 0;
    /* following in ("", "\n") */
    Py_ssize_t a = clamp(end + 1, x->n), b = clamp(end + 24, x->n), e = a;
    while (e < b && x->t[e] != ' ') e++;
    return e <= a || (e - a == 1 && x->t[a] == '\n');
}

/* _alternative_to(text, start) */
static int alternative_to(const Text *x, Py_ssize_t start) {
    Span words[MAX_WORDS];
    int count = split_words(x, start - 40, start, words);
    Span *w = words + (count > 4 ? count - 4 : 0);
    int n = count > 4 ? 4 : count;
    if (n > 0 && (word_mask(x, w[n - 1]) & ELIDED)) n--;
    if (n == 0 || !(word_mask(x, w[n - 1]) & ALTERNATIVE_TO)) return 0;
    for (int i = n - 3 > 0 ? n - 3 : 0; i < n - 1; i++)
        if (word_mask(x, w[i]) & ALTERNATIVE) return 1;
    return 0;
}

/* _coordinator(words, index, coordinators) */
static int coordinator(const Text *x, const Span *words, int index, unsigned long coordinators) {
    if (index < 0 || !(word_mask(x, words[index]) & coordinators)) return 0;
    return !((word_mask(x, words[index]) & ELIDED_L) && index > 0 && (word_mask(x, words[index - 1]) & ELISION_HOST));
}

/* _list_goes_on(after, coordinators) */
static int list_goes_on(const Text *x, const Span *after, int count, unsigned long coordinators) {
    if (count > 0 && x->t[after[0].s] >= '0' && x->t[after[0].s] <= '9') return 0;
    for (int index = 0; index < count && index < 2; index++) {
        if (coordinator(x, after, index, coordinators)) return index + 1 < count;
        if (word_mask(x, after[index]) & BUT) return 0;
    }
    return 0;
}

/* _negated_list(items, reach, negations) */
static int negated_list(const Text *x, const Span *items, int count, Py_ssize_t reach, int which) {
    char head[256];
    for (Py_ssize_t length = 1; length < (count < reach + 1 ? count : reach + 1); length++) {
        if (word_mask(x, items[count - length]) & BUT) return 0;
        Py_ssize_t lo = count - length - 2 > 0 ? count - length - 2 : 0, hi = count - length, len = 0;
        head[len++] = ' ';
        for (Py_ssize_t i = lo; i < hi; i++) {
            Py_ssize_t m = items[i].e - items[i].s;
            if (len + m + 2 > (Py_ssize_t)sizeof head) return -1;
            if (i > lo) head[len++] = ' ';
            memcpy(head + len, x->t + items[i].s, (size_t)m);
            len += m;
        }
        head[len++] = ' ';
        if (ends_with_negation(head, len, which)) return 1;
    }
    return 0;
}

/* negated(text, start, stop) or _free_shipping(text, start, stop); -1 if a buffer is too small. */
static int negated(const Text *x, Py_ssize_t start, Py_ssize_t stop) {
    Py_ssize_t b0 = start - reach_before > 0 ? start - reach_before : 0;
    if (ends_with_negation(x->t + b0, start - b0, NEGATIONS) || absent_after(x, stop)) return 1;
    if (find_bytes(x, stem, start - 40 > 0 ? start - 40 : 0, start) >= 0 && alternative_to(x, start)) return 1;
    Span words[MAX_WORDS], items[MAX_WORDS], after[MAX_WORDS];
    int count = split_words(x, b0, start, words);
    int last = count > 0 && (word_mask(x, words[count - 1]) & ARTICLE) ? count - 2 : count - 1;
    Py_ssize_t i0 = start - 96 > 0 ? start - 96 : 0;
    if (coordinator(x, words, last, AND) && (last > 0 || b0 == 0)) {
        int kept = split_words(x, i0, start, items) - (count - last);
        return negated_list(x, items, kept > 0 ? kept : 0, list_reach, NEGATIONS);
    }
    if (coordinator(x, words, last, DUTCH_OR) && last > 0) {
        int kept = split_words(x, i0, start, items) - (count - last);
        return negated_list(x, items, kept > 0 ? kept : 0, list_reach, DUTCH_NEGATIONS);
    }
    Py_ssize_t space = find_char(x, ' ', stop + 1, stop + 6);
    if (space > 0) {
        Py_ssize_t ws = clamp(stop + 1, x->n);
        if (mask_of(x->t + ws, space > ws ? space - ws : 0) & AND) {
            Py_ssize_t item_stop = find_char(x, ' ', space + 1, space + 40);
            if (item_stop > 0 && absent_after(x, item_stop)) return 1;
        }
    }
    int counted = split_first_words(x, stop, stop + 64, after, 3); /* list_goes_on reads no further */
    if (list_goes_on(x, after, counted, AND))
        return negated_list(x, items, split_words(x, i0, start, items), middle_reach, NEGATIONS);
    if (list_goes_on(x, after, counted, DUTCH_OR))
        return negated_list(x, items, split_words(x, i0, start, items), middle_reach, DUTCH_NEGATIONS);
    return 0;
}

/* _free_shipping(text, start, stop) */
static int free_shipping(const Text *x, Py_ssize_t start, Py_ssize_t stop) {
    Py_ssize_t m = PyBytes_GET_SIZE(free_suffix);
    if (stop - start < m || memcmp(x->t + stop - m, PyBytes_AS_STRING(free_suffix), (size_t)m) != 0) return 0;
    return (first_piece_mask(x, stop + 1, stop + 24) & NOT_AFTER_FREE) != 0;
}

static PyObject *negated_ascii(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "negated(text: str, start: int, stop: int)");
        return NULL;
    }
    if (table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "negated() before set_tables()");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    if ((start == -1 || stop == -1) && PyErr_Occurred()) return NULL;
    Text x = {(const char *)PyUnicode_DATA(args[0]), PyUnicode_GET_LENGTH(args[0])};
    if (!PyUnicode_IS_ASCII(args[0]) || start < 1 || stop < start || stop > x.n) Py_RETURN_NONE;
    int found = negated(&x, start, stop);
    if (found == 0) found = free_shipping(&x, start, stop);
    if (found < 0) Py_RETURN_NONE;
    return PyBool_FromLong(found);
}

/* LexiconIndex.find_all's sorting of raw automaton matches, for ASCII text (see _sorted_hits in
 * engine/lexicons.py, the definition): lookalike phrases found, then each (lexicon, term) of
 * each raw match kept unless its (view, lexicon) already has `max_hits` hits, a lookalike phrase
 * of its lexicon covers it, or it is negated. */

typedef struct {
    Py_ssize_t group, start, stop;
} Lookalike;

static int by_group_then_start(const void *a, const void *b) {
    const Lookalike *x = a, *y = b;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->stop < y->stop ? -1 : x->stop > y->stop;
}

typedef struct {
    Py_ssize_t index, start, stop, view;
    int negation; /* -1: not worked out yet */
} Raw;

/* The index of `key` in `dict`, added if absent; -1 on error. */
static Py_ssize_t slot_of(PyObject *dict, PyObject *key, int add) {
    PyObject *found = PyDict_GetItemWithError(dict, key);
    if (found != NULL) return PyLong_AsSsize_t(found);
    if (PyErr_Occurred() || !add) return PyErr_Occurred() ? -2 : -1;
    PyObject *number = PyLong_FromSsize_t(PyDict_GET_SIZE(dict));
    if (number == NULL || PyDict_SetItem(dict, key, number) < 0) {
        Py_XDECREF(number);
        return -2;
    }
    Py_DECREF(number);
    return PyDict_GET_SIZE(dict) - 1;
}

static PyObject *sort_hits(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 7 || !PyUnicode_Check(args[0]) || !PyList_Check(args[1]) || !PyList_Check(args[2]) ||
        !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "sort_hits(text: str, found: list, keys: list, view_starts: list, max_hits, check_time, check_every)");
        return NULL;
    }
    if (table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sort_hits() before set_tables()");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(args[0])) Py_RETURN_NONE;
    Text x = {(const char *)PyUnicode_DATA(args[0]), PyUnicode_GET_LENGTH(args[0])};
    PyObject *found = args[1], *keys = args[2], *check_time = args[5];
    Py_ssize_t max_hits = PyLong_AsSsize_t(args[4]), check_every = PyLong_AsSsize_t(args[6]);
    if ((max_hits == -1 || check_every == -1) && PyErr_Occurred()) return NULL;
    if (check_every < 1) check_every = 1;
    Py_ssize_t count = PyList_GET_SIZE(found), views = PyList_GET_SIZE(args[3]), nkeys = PyList_GET_SIZE(keys);

    PyObject *result = NULL, *lookalike_groups = NULL, *lexicon_slots = NULL, *kept = NULL;
    Raw *raws = NULL;
    Lookalike *lookalikes = NULL;
    Py_ssize_t *starts = NULL, *reach = NULL, *counts = NULL, nlookalikes = 0, counts_size = 0;
    int declined = 0;

    raws = PyMem_Malloc(sizeof(Raw) * (size_t)(count ? count : 1));
    starts = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(views ? views : 1));
    lookalike_groups = PyDict_New();
    lexicon_slots = PyDict_New();
    kept = PyList_New(0);
    if (raws == NULL || starts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (lookalike_groups == NULL || lexicon_slots == NULL || kept == NULL) goto done;
    for (Py_ssize_t v = 0; v < views; v++) {
        starts[v] = PyLong_AsSsize_t(PyList_GET_ITEM(args[3], v));
        if (starts[v] == -1 && PyErr_Occurred()) goto done;
    }

    /* Raw matches: their spans, views and lookalike phrases. */
    Py_ssize_t lookalikes_size = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if ((i + 1) % check_every == 0) {
            PyObject *none = PyObject_CallNoArgs(check_time);
            if (none == NULL) goto done;
            Py_DECREF(none);
        }
        PyObject *match = PyList_GET_ITEM(found, i);
        if (!PyTuple_Check(match) || PyTuple_GET_SIZE(match) != 3) goto bad;
        Py_ssize_t index = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 0));
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 1));
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(match, 2));
        if (PyErr_Occurred()) goto done;
        if (index < 0 || index >= nkeys || start < 0 || end <= start || end > x.n) goto bad;
        PyObject *info = PyList_GET_ITEM(keys, index);
        if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 3) goto bad;
        PyObject *lookalikes_of = PyTuple_GET_ITEM(info, 2);
        if (!PyTuple_Check(lookalikes_of) || !PyTuple_Check(PyTuple_GET_ITEM(info, 1))) goto bad;
        Py_ssize_t stop = PyObject_IsTrue(PyTuple_GET_ITEM(info, 0)) ? find_char(&x, ' ', end, x.n) : end - 1;
        if (stop < start + 1) { /* not a padded key: left to the definition */
            declined = 1;
            goto done;
        }
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(lookalikes_of); k++) {
            Py_ssize_t group = slot_of(lookalike_groups, PyTuple_GET_ITEM(lookalikes_of, k), 1);
            if (group < 0) goto done;
            if (nlookalikes == lookalikes_size) {
                lookalikes_size = lookalikes_size ? lookalikes_size * 2 : 16;
                Lookalike *grown = PyMem_Realloc(lookalikes, sizeof(Lookalike) * (size_t)lookalikes_size);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                lookalikes = grown;
            }
            lookalikes[nlookalikes++] = (Lookalike){group, start + 1, stop};
        }
        Py_ssize_t lo = 0, hi = views; /* bisect_right(starts, start) - 1 */
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (start < starts[mid]) hi = mid;
            else lo = mid + 1;
        }
        raws[i] = (Raw){index, start + 1, stop, lo - 1, -1};
    }
    /* Per lookalike lexicon, its phrases by start with the furthest end so far (_Spans). */
    if (nlookalikes) {
        qsort(lookalikes, (size_t)nlookalikes, sizeof(Lookalike), by_group_then_start);
        reach = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)nlookalikes);
        if (reach == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t k = 0; k < nlookalikes; k++)
            reach[k] = k > 0 && lookalikes[k - 1].group == lookalikes[k].group && reach[k - 1] > lookalikes[k].stop
                           ? reach[k - 1]
                           : lookalikes[k].stop;
    }

    for (Py_ssize_t i = 0; i < count; i++) {
        Raw *raw = &raws[i];
        PyObject *terms = PyTuple_GET_ITEM(PyList_GET_ITEM(keys, raw->index), 1);
        for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(terms); t++) {
            PyObject *entry = PyTuple_GET_ITEM(terms, t);
            if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2) goto bad;
            PyObject *lexicon = PyTuple_GET_ITEM(entry, 0);
            if (raw->view < 0 || raw->view >= views) goto bad;
            Py_ssize_t slot = slot_of(lexicon_slots, lexicon, 1);
            if (slot < 0) goto done;
            if ((slot + 1) * views > counts_size) {
                Py_ssize_t size = counts_size ? counts_size * 2 : views * 16;
                while (size < (slot + 1) * views) size *= 2;
                Py_ssize_t *grown = PyMem_Realloc(counts, sizeof(Py_ssize_t) * (size_t)size);
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                memset(grown + counts_size, 0, sizeof(Py_ssize_t) * (size_t)(size - counts_size));
                counts = grown;
                counts_size = size;
            }
            Py_ssize_t *counted = &counts[slot * views + raw->view];
            if (*counted >= max_hits) continue;
            if (nlookalikes) {
                Py_ssize_t group = slot_of(lookalike_groups, lexicon, 0);
                if (group == -2) goto done;
                if (group >= 0) { /* the last of its phrases starting at or before the term */
                    Py_ssize_t lo = 0, hi = nlookalikes;
                    while (lo < hi) {
                        Py_ssize_t mid = (lo + hi) / 2;
                        Lookalike *l = &lookalikes[mid];
                        if (l->group < group || (l->group == group && l->start <= raw->start)) lo = mid + 1;
                        else hi = mid;
                    }
                    if (lo > 0 && lookalikes[lo - 1].group == group && reach[lo - 1] >= raw->stop) continue;
                }
            }
            if (raw->negation < 0) {
                raw->negation = negated(&x, raw->start, raw->stop);
                if (raw->negation == 0) raw->negation = free_shipping(&x, raw->start, raw->stop);
                if (raw->negation < 0) {
                    declined = 1;
                    goto done;
                }
            }
            if (raw->negation) continue;
            *counted += 1;
            PyObject *hit = Py_BuildValue("(nOOnn)", raw->view, lexicon, PyTuple_GET_ITEM(entry, 1),
                                          raw->start - starts[raw->view], raw->stop - starts[raw->view]);
            if (hit == NULL || PyList_Append(kept, hit) < 0) {
                Py_XDECREF(hit);
                goto done;
            }
            Py_DECREF(hit);
        }
    }
    result = kept;
    kept = NULL;
    goto done;
bad:
    PyErr_SetString(PyExc_ValueError, "sort_hits(): malformed matches or keys");
done:
    if (declined && !PyErr_Occurred()) {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    Py_XDECREF(kept);
    Py_XDECREF(lookalike_groups);
    Py_XDECREF(lexicon_slots);
    PyMem_Free(raws);
    PyMem_Free(starts);
    PyMem_Free(lookalikes);
    PyMem_Free(reach);
    PyMem_Free(counts);
    return result;
}

/* group_hits(hits, names, hit_type): the hits of LexiconIndex.find_all, (view, lexicon, term,
 * start, end), by lexicon, each made a hit_type (a tuple subclass, engine.textscan.TextHit) of
 * (names[view], start, end, term), in order: what TextScanner.scan records, built without a
 * Python call per hit. */
static PyObject *group_hits(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !PyType_Check(args[2]) ||
        !PyType_IsSubtype((PyTypeObject *)args[2], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "group_hits(hits: list, names: list, hit_type: type[tuple])");
        return NULL;
    }
    PyObject *hits = args[0], *names = args[1];
    PyTypeObject *type = (PyTypeObject *)args[2];
    PyObject *grouped = PyDict_New();
    if (grouped == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(hits); i++) {
        PyObject *item = PyList_GET_ITEM(hits, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) goto bad;
        Py_ssize_t view = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0));
        if (view == -1 && PyErr_Occurred()) goto fail;
        if (view < 0 || view >= PyList_GET_SIZE(names)) goto bad;
        PyObject *lexicon = PyTuple_GET_ITEM(item, 1), *hit = type->tp_alloc(type, 4);
        if (hit == NULL) goto fail;
        PyObject *fields[4] = {PyList_GET_ITEM(names, view), PyTuple_GET_ITEM(item, 3), PyTuple_GET_ITEM(item, 4),
                               PyTuple_GET_ITEM(item, 2)};
        for (int f = 0; f < 4; f++) {
            Py_INCREF(fields[f]);
            PyTuple_SET_ITEM(hit, f, fields[f]);
        }
        PyObject *list = PyDict_GetItemWithError(grouped, lexicon);
        if (list == NULL) {
            if (PyErr_Occurred() || (list = PyList_New(0)) == NULL || PyDict_SetItem(grouped, lexicon, list) < 0) {
                Py_XDECREF(list);
                Py_DECREF(hit);
                goto fail;
            }
            Py_DECREF(list); /* the dictionary holds it */
        }
        int appended = PyList_Append(list, hit);
        Py_DECREF(hit);
        if (appended < 0) goto fail;
    }
    return grouped;
bad:
    PyErr_SetString(PyExc_ValueError, "group_hits(): a hit is not (view, lexicon, term, start, end) of a named view");
fail:
    Py_DECREF(grouped);
    return NULL;
}

static PyMethodDef methods[] = {
    {"set_tables", set_tables, METH_VARARGS,
     "set_tables(entries, stem, free_suffix, reach_before, list_reach, middle_reach): the cue words (see engine.lexicons)."},
    {"negated", (PyCFunction)(void (*)(void))negated_ascii, METH_FASTCALL,
     "negated(text, start, stop) -> bool | None: engine.lexicons.negated or _free_shipping; None unless text is ASCII."},
    {"sort_hits", (PyCFunction)(void (*)(void))sort_hits, METH_FASTCALL,
     "sort_hits(text, found, keys, view_starts, max_hits, check_time, check_every) -> list | None: "
     "engine.lexicons._sorted_hits for ASCII text; None when it leaves the text to the definition."},
    {"group_hits", (PyCFunction)(void (*)(void))group_hits, METH_FASTCALL,
     "group_hits(hits, names, hit_type) -> dict: find_all's hits by lexicon, as hit_type(names[view], start, end, term)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "engine._lexscan", "Negation around lexicon hits in C (see engine.lexicons.negated).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lexscan(void) { return PyModule_Create(&definition); }
