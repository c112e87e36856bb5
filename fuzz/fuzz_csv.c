/*
 * fuzz_csv.c: the CSV writer (core/buf.c: buf_append_csv_cell, behind the
 * disclosure log's and the pages' CSV exports) round-trips through a CSV
 * reader (RFC 4180, written here). The input is rows separated by 0x1e,
 * cells by 0x1f. Property: reading the written text gives the same rows
 * and cells, each cell as written, except that a cell starting with
 * = + - or @ reads back with the apostrophe the writer puts in front (so
 * that a spreadsheet does not take it for a formula); and no written cell
 * starts with one of those four.
 */
#include <string.h>

#include "core/buf.h"
#include "fuzz.h"

#define FUZZ_CSV_MAX (1u << 20)

/* Reads the next cell of csv at *pos into *cell (malloc'd into *buf);
 * returns 1 after the last cell of a row, 0 after another cell, -1 when
 * the text is not well-formed CSV. */
static int read_cell(str_t csv, size_t *pos, buf_t *cell)
{
    buf_reset(cell);
    size_t i = *pos;
    if (i < csv.len && csv.ptr[i] == '"') {
        i++;
        for (;;) {
            if (i >= csv.len)
                return -1; /* an open quote */
            if (csv.ptr[i] == '"') {
                if (i + 1 < csv.len && csv.ptr[i + 1] == '"') {
                    FUZZ_CHECK(buf_append(cell, "\"", 1) == 0);
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            FUZZ_CHECK(buf_append(cell, csv.ptr + i, 1) == 0);
            i++;
        }
    } else {
        while (i < csv.len && csv.ptr[i] != ',' && csv.ptr[i] != '\r') {
            if (csv.ptr[i] == '"' || csv.ptr[i] == '\n')
                return -1; /* a quote or line feed in an unquoted cell */
            FUZZ_CHECK(buf_append(cell, csv.ptr + i, 1) == 0);
            i++;
        }
    }
    if (i < csv.len && csv.ptr[i] == ',') {
        *pos = i + 1;
        return 0;
    }
    if (csv.len - i >= 2 && csv.ptr[i] == '\r' && csv.ptr[i + 1] == '\n') {
        *pos = i + 2;
        return 1;
    }
    return -1;
}

/* The pieces of s between separators sep (n separators: n + 1 pieces,
 * empty ones included) into out (at most max); their count. */
static size_t split_all(str_t s, char sep, str_t *out, size_t max)
{
    size_t n = 0, from = 0;
    for (size_t i = 0; i <= s.len && n < max; i++)
        if (i == s.len || s.ptr[i] == sep) {
            out[n++] = str_sub(s, from, i - from);
            from = i + 1;
        }
    return n;
}

#define FUZZ_CSV_CELLS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static str_t rows[FUZZ_CSV_CELLS], cells[FUZZ_CSV_CELLS];
    str_t in = fuzz_str(data, size);
    buf_t out, cell;
    buf_init(&out, FUZZ_CSV_MAX);
    buf_init(&cell, FUZZ_CSV_MAX);
    size_t n_rows = split_all(in, '\x1e', rows, FUZZ_CSV_CELLS);
    for (size_t r = 0; r < n_rows; r++) {
        size_t n = split_all(rows[r], '\x1f', cells, FUZZ_CSV_CELLS);
        for (size_t c = 0; c < n; c++) {
            if (c)
                FUZZ_CHECK(buf_append(&out, ",", 1) == 0);
            size_t at = out.len;
            FUZZ_CHECK(buf_append_csv_cell(&out, cells[c]) == 0);
            str_t w = str_sub(buf_str(&out), at, out.len - at);
            size_t k = w.len && w.ptr[0] == '"' ? 1 : 0;
            FUZZ_CHECK(k >= w.len || !strchr("=+-@", w.ptr[k]) || w.ptr[k] == '\0');
        }
        FUZZ_CHECK(buf_append(&out, "\r\n", 2) == 0);
    }
    /* Read back. */
    str_t csv = buf_str(&out);
    size_t pos = 0;
    for (size_t r = 0; r < n_rows; r++) {
        size_t n = split_all(rows[r], '\x1f', cells, FUZZ_CSV_CELLS);
        for (size_t c = 0; c < n; c++) {
            int end = read_cell(csv, &pos, &cell);
            FUZZ_CHECK(end >= 0);
            FUZZ_CHECK(end == (c + 1 == n));
            str_t want = cells[c], got = buf_str(&cell);
            if (want.len && strchr("=+-@", want.ptr[0]) && want.ptr[0] != '\0') {
                FUZZ_CHECK(got.len == want.len + 1 && got.ptr[0] == '\'');
                got = str_sub(got, 1, got.len - 1);
            }
            FUZZ_CHECK(str_eq(got, want));
        }
    }
    FUZZ_CHECK(pos == csv.len);
    buf_free(&out);
    buf_free(&cell);
    return 0;
}
