/*
 * The folded and words views of Latin-1 text, in one C pass (see engine/textnorm.py).
 *
 * engine.textnorm is the definition: fold_char() folds any character, reference_words() builds
 * the words view with Python string operations, and both handle every text. Listings are almost
 * always Latin-1 (most often ASCII), and for them this module gives exactly the same results
 * several times faster (tests/test_textnorm.py checks that they agree). The folding itself
 * comes from Python once, as a table (set_fold_table), so that Unicode data lives in one place.
 *
 * The words view of a folded text:
 *   1. leetspeak read back inside a token of [a-z0-9@$] that holds a letter followed by a digit
 *      or symbol, or a symbol followed by a letter, and has at least two letters and one
 *      non-letter (`l0l1` -> `loli`; `100cm` is left alone);
 *   2. punctuation blanked, `l` read as `i`;
 *   3. letters split by a repeated separator joined (`l.o.l.i`, `s e x`), where the blanked
 *      text shows three one-character words in a row; then steps 1-2 again on the joined text;
 *   4. padded with one space on each side, runs of spaces collapsed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef unsigned char uchar;

/* Character classes of the 256 Latin-1 code points, filled once when the module loads. */
enum { LETTER = 1, DIGIT = 2, SYMBOL = 4, ALNUM = 8, SEPARATOR = 16 };
static uchar classes[256];
/* Step 2 for one character: `l` read as `i`, letters and digits kept, the rest blanked. */
static uchar blanked_char[256];

static void fill_classes(void) {
    for (int c = 0; c < 256; c++) {
        uchar bits = 0;
        if (c >= 'a' && c <= 'z') bits |= LETTER;
        if (c >= '0' && c <= '9') bits |= DIGIT;
        if (c == '@' || c == '$') bits |= SYMBOL;
        /* str.isalnum(), as the reference's \w and [^\W_] use it. */
        if (Py_UNICODE_ISALNUM((Py_UCS4)c)) bits |= ALNUM;
        if (strchr(" .-_*/+", c) != NULL && c != 0) bits |= SEPARATOR;
        if (c == 0xB7) bits |= SEPARATOR; /* middle dot */
        classes[c] = bits;
        blanked_char[c] = c == 'l' ? 'i' : (bits & ALNUM) ? (uchar)c : ' ';
    }
}

static int is_letter(uchar c) { return classes[c] & LETTER; }
static int is_digit(uchar c) { return classes[c] & DIGIT; }
static int is_symbol(uchar c) { return classes[c] & SYMBOL; }
static int is_token(uchar c) { return classes[c] & (LETTER | DIGIT | SYMBOL); }
static int is_alnum(uchar c) { return classes[c] & ALNUM; }
static int is_separator(uchar c) { return classes[c] & SEPARATOR; }

static uchar leet(uchar c) {
    switch (c) {
    case '0': return 'o';
    case '1': return 'i';
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '@': return 'a';
    case '$': return 's';
    case '8': return 'b';
    default: return c;
    }
}

/* Whether the token in[i:end] may hide leetspeak: a letter before a digit or symbol, or a
 * symbol before a letter. */
static int leet_hint(const uchar *in, Py_ssize_t i, Py_ssize_t end) {
    for (Py_ssize_t j = i; j + 1 < end; j++)
        if ((is_letter(in[j]) && (is_digit(in[j + 1]) || is_symbol(in[j + 1]))) ||
            (is_symbol(in[j]) && is_letter(in[j + 1])))
            return 1;
    return 0;
}

/* Steps 1 and 2: `out` receives `n` characters. Most tokens are all letters or all digits, so
 * the leetspeak hint is only looked for in tokens with two letters or more and something else. */
static void deleet_and_blank(const uchar *in, Py_ssize_t n, uchar *out) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_token(in[i])) {
            out[i] = blanked_char[in[i]];
            i++;
            continue;
        }
        Py_ssize_t end = i, letters = 0;
        for (; end < n && is_token(in[end]); end++)
            if (is_letter(in[end])) letters++;
        if (letters >= 2 && letters < end - i && leet_hint(in, i, end))
            for (Py_ssize_t j = i; j < end; j++) out[j] = blanked_char[leet(in[j])];
        else
            for (Py_ssize_t j = i; j < end; j++) out[j] = blanked_char[in[j]];
        i = end;
    }
}

static int is_word(uchar c) { return c != ' '; }

/* Step 3: length of the split-letter run starting at `start` in `text`, or 0. */
static Py_ssize_t split_run(const uchar *text, Py_ssize_t n, Py_ssize_t start, uchar *separator) {
    if (start + 4 >= n || (start > 0 && is_alnum(text[start - 1]))) return 0;
    uchar sep = text[start + 1];
    if (!is_alnum(text[start]) || !is_separator(sep) || !is_alnum(text[start + 2])) return 0;
    Py_ssize_t best = 0, j = start + 3;
    while (j + 1 < n && text[j] == sep && is_alnum(text[j + 1])) {
        j += 2;
        if (j == n || !is_alnum(text[j])) best = j; /* greedy, then backs off: keep the longest valid */
    }
    *separator = sep;
    return best ? best - start : 0;
}

/* The words view of the folded Latin-1 text `folded[0:n]`, as a str. */
static PyObject *words_of(const uchar *folded, Py_ssize_t n) {
    uchar *joined = NULL;
    uchar *blanked = PyMem_Malloc((size_t)n + 2);
    if (blanked == NULL) return PyErr_NoMemory();
    blanked[0] = ' ';
    deleet_and_blank(folded, n, blanked + 1);
    blanked[n + 1] = ' ';

    /* Step 3: hints in the padded blanked text at k mean a run may start at folded[k]. */
    Py_ssize_t last_end = 0, kept = 0;
    for (Py_ssize_t k = 0; k + 6 <= n + 1; k++) {
        if (blanked[k] != ' ' || !is_word(blanked[k + 1]) || blanked[k + 2] != ' ' || !is_word(blanked[k + 3]) ||
            blanked[k + 4] != ' ' || !is_word(blanked[k + 5]) || blanked[k + 6] != ' ')
            continue;
        if (k < last_end) continue;
        uchar sep;
        Py_ssize_t length = split_run(folded, n, k, &sep);
        if (!length) continue;
        if (joined == NULL) {
            joined = PyMem_Malloc((size_t)n + 1);
            if (joined == NULL) {
                PyMem_Free(blanked);
                return PyErr_NoMemory();
            }
        }
        memcpy(joined + kept, folded + last_end, (size_t)(k - last_end));
        kept += k - last_end;
        for (Py_ssize_t j = k; j < k + length; j++)
            if (folded[j] != sep) joined[kept++] = folded[j];
        last_end = k + length;
    }
    Py_ssize_t length = n;
    if (joined != NULL) {
        memcpy(joined + kept, folded + last_end, (size_t)(n - last_end));
        length = kept + n - last_end;
        PyMem_Free(blanked);
        blanked = PyMem_Malloc((size_t)length + 2);
        if (blanked == NULL) {
            PyMem_Free(joined);
            return PyErr_NoMemory();
        }
        blanked[0] = ' ';
        deleet_and_blank(joined, length, blanked + 1);
        blanked[length + 1] = ' ';
    }

    /* Step 4: collapse runs of spaces (the padding is already in place). */
    Py_ssize_t out = 0;
    for (Py_ssize_t i = 0; i < length + 2; i++)
        if (blanked[i] != ' ' || out == 0 || blanked[out - 1] != ' ') blanked[out++] = blanked[i];
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, blanked, out);
    PyMem_Free(blanked);
    PyMem_Free(joined);
    return result;
}

static PyObject *words_latin1(PyObject *module, PyObject *argument) {
    (void)module;
    if (!PyUnicode_Check(argument)) {
        PyErr_SetString(PyExc_TypeError, "words_latin1() takes a str");
        return NULL;
    }
    if (PyUnicode_KIND(argument) != PyUnicode_1BYTE_KIND) Py_RETURN_NONE;
    return words_of((const uchar *)PyUnicode_DATA(argument), PyUnicode_GET_LENGTH(argument));
}

/* What each Latin-1 character folds to: a Latin-1 character, VANISHES, or ELSEWHERE (several
 * characters, or one beyond Latin-1: left to Python). Neither marker is ever a folded character:
 * both are controls, which vanish. */
enum { VANISHES = 0, ELSEWHERE = 1 };
static uchar fold_table[256];
static int fold_table_set = 0;

static PyObject *set_fold_table(PyObject *module, PyObject *argument) {
    (void)module;
    if (!PyBytes_Check(argument) || PyBytes_GET_SIZE(argument) != 256) {
        PyErr_SetString(PyExc_ValueError, "set_fold_table() takes 256 bytes");
        return NULL;
    }
    memcpy(fold_table, PyBytes_AS_STRING(argument), 256);
    fold_table_set = 1;
    Py_RETURN_NONE;
}

static PyObject *fold_words_latin1(PyObject *module, PyObject *argument) {
    (void)module;
    if (!PyUnicode_Check(argument)) {
        PyErr_SetString(PyExc_TypeError, "fold_words_latin1() takes a str");
        return NULL;
    }
    if (!fold_table_set) {
        PyErr_SetString(PyExc_RuntimeError, "fold_words_latin1() before set_fold_table()");
        return NULL;
    }
    if (PyUnicode_KIND(argument) != PyUnicode_1BYTE_KIND) Py_RETURN_NONE;
    const uchar *text = (const uchar *)PyUnicode_DATA(argument);
    Py_ssize_t n = PyUnicode_GET_LENGTH(argument), kept = 0;
    uchar *folded = PyMem_Malloc((size_t)n + 1);
    if (folded == NULL) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        uchar c = fold_table[text[i]];
        if (c == ELSEWHERE) {
            PyMem_Free(folded);
            Py_RETURN_NONE;
        }
        if (c != VANISHES) folded[kept++] = c;
    }
    PyObject *words = words_of(folded, kept);
    PyObject *result = NULL;
    if (words != NULL) {
        PyObject *folded_str = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, folded, kept);
        if (folded_str != NULL) result = PyTuple_Pack(2, folded_str, words);
        Py_XDECREF(folded_str);
        Py_DECREF(words);
    }
    PyMem_Free(folded);
    return result;
}

static PyMethodDef methods[] = {
    {"words_latin1", words_latin1, METH_O,
     "words_latin1(folded) -> str | None: the words view of a folded text; None unless it is Latin-1."},
    {"set_fold_table", set_fold_table, METH_O,
     "set_fold_table(table): what each Latin-1 character folds to (0: vanishes, 1: not to one Latin-1 character)."},
    {"fold_words_latin1", fold_words_latin1, METH_O,
     "fold_words_latin1(text) -> (folded, words) | None: both views of a Latin-1 text; None for other text."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "engine._words", "The folded and words views of Latin-1 text in C (see engine.textnorm).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__words(void) {
    fill_classes();
    return PyModule_Create(&definition);
}
