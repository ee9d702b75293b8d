/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smtp_data: the DATA reader (dot-unstuffing and end-of-data detection,
 * RFC 5321 4.1.1.4 and 4.5.2) and the BDAT chunk reader (RFC 3030), both
 * applying the bare CR / bare LF policy.
 *
 * Contract: a state machine whose state lives in struct mx_smtp_data,
 * taken a byte at a time except for the run inside a line before its
 * next CR or LF, so any split of the input gives the same output and the
 * same end. Output goes through the caller's out() in runs that point into
 * the input (no copy), plus a few constant bytes ("." kept, CRLF for a
 * normalised bare break).
 *
 * SMTP smuggling (CVE-2023-51764 and friends) lives in the gap between
 * what two MTAs take as the end of data. Here the end is only CR LF "."
 * CR LF, where the first CR LF is a real one (or the end of the DATA
 * command). A bare CR or LF never ends the data, never counts as the CR LF
 * before the dot, and is never turned into a line start at which a dot
 * could end the data: after a bare break the reader is "inside a line".
 */
#include <string.h>

#include "mx_conf.h"
#include "mx_smtp.h"

enum {
	D_BOL = 0, /* just after CR LF: a "." here may end or be stuffing */
	D_DOT,     /* "." at the start of a line, held back */
	D_DOT_CR,  /* "." CR at the start of a line, held back */
	D_TEXT,    /* inside a line */
	D_CR,      /* a CR inside a line, held back */
};

static const uint8_t crlf[2] = { '\r', '\n' };
static const uint8_t dot[1] = { '.' };

static void
emit(mx_smtp_data_out_fn *out, void *arg, const uint8_t *p, size_t n)
{
	if (n > 0)
		out(arg, p, n);
}

/* A CR or LF that is not part of a CR LF pair. */
static void
bare_break(struct mx_smtp_data *d, uint8_t c, mx_smtp_data_out_fn *out, void *arg)
{
	d->n_bare++;
	d->line_len = 0;
	if (d->bare_lf == MX_BARE_LF_NORMALIZE)
		emit(out, arg, crlf, 2);
	else
		emit(out, arg, &c, 1);
}

void
mx_smtp_data_init(struct mx_smtp_data *d, int bare_lf, size_t max_line)
{
	memset(d, 0, sizeof(*d));
	/* The CR LF that ended the DATA command counts as the CR LF before
	 * the dot, so "." CR LF at once is an empty message (RFC 5321
	 * 4.1.1.4). */
	d->state = D_BOL;
	d->bare_lf = bare_lf;
	d->max_line = max_line;
}

static void
count_bytes(struct mx_smtp_data *d, size_t n)
{
	d->line_len += n;
	if (d->max_line > 0 && d->line_len > d->max_line)
		d->line_too_long = true;
}

/* Inside a line only CR and LF matter, so the readers skip to the next
 * one a word at a time (the DATA scan was a fifth of a worker's time per
 * message as a switch per byte: bench/PROFILE.md). A byte of the word
 * is CR or LF when its XOR with that byte is zero; has_zero() is the
 * exact zero-byte test (no false positives, so no byte is misjudged).
 * Returns the offset of the first CR or LF in p[i..n), or n. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static uint64_t
has_zero(uint64_t v)
{
	return ~(((v & ~HIGHS) + ~HIGHS) | v) & HIGHS;
}

static size_t
next_break(const uint8_t *p, size_t i, size_t n)
{
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if ((has_zero(w ^ (ONES * '\r')) | has_zero(w ^ (ONES * '\n'))) != 0)
			break;
	}
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

enum mx_rc
mx_smtp_data_feed(struct mx_smtp_data *d, const uint8_t *p, size_t n,
		size_t *used, mx_smtp_data_out_fn *out, void *arg)
{
	size_t i, run = 0; /* p[run..i) is pending output */

	for (i = 0; i < n; i++) {
		uint8_t c;

		if (d->state == D_TEXT) {
			size_t j = next_break(p, i, n);

			count_bytes(d, j - i);
			i = j;
			if (i == n)
				break;
		}
		c = p[i];
		count_bytes(d, 1);
		switch (d->state) {
		case D_BOL:
			if (c == '.') {
				emit(out, arg, p + run, i - run);
				run = i + 1;
				d->state = D_DOT;
				break;
			}
			d->state = D_TEXT;
			goto text;
		case D_DOT:
			if (c == '\r') {
				run = i + 1;
				d->state = D_DOT_CR;
				break;
			}
			if (c == '\n') {
				/* "." LF: a line "." with a bare break; the dot
				 * is kept, the data goes on. */
				emit(out, arg, dot, 1);
				bare_break(d, c, out, arg);
				run = i + 1;
				d->state = D_TEXT;
				break;
			}
			/* RFC 5321 4.5.2: a leading dot with more text on
			 * the line is deleted. The dot was not sent, it was
			 * not counted either. */
			d->line_len--;
			d->state = D_TEXT;
			run = i;
			goto text;
		case D_DOT_CR:
			if (c == '\n') {
				*used = i + 1;
				d->state = D_BOL;
				d->line_len = 0;
				return MX_OK;
			}
			/* "." CR x: the CR is bare, not the end. */
			emit(out, arg, dot, 1);
			bare_break(d, '\r', out, arg);
			d->state = D_TEXT;
			run = i;
			goto text;
		case D_CR:
			if (c == '\n') {
				emit(out, arg, crlf, 2);
				run = i + 1;
				d->state = D_BOL;
				d->line_len = 0;
				break;
			}
			bare_break(d, '\r', out, arg);
			d->state = D_TEXT;
			run = i;
			goto text;
		default:
		text:
			if (c == '\r') {
				emit(out, arg, p + run, i - run);
				run = i + 1;
				d->state = D_CR;
			} else if (c == '\n') {
				emit(out, arg, p + run, i - run);
				bare_break(d, c, out, arg);
				run = i + 1;
			}
			break;
		}
	}
	/* A held-back CR or dot moved run to n already. */
	emit(out, arg, p + run, n - run);
	*used = n;
	return MX_AGAIN;
}

void
mx_smtp_chunk_init(struct mx_smtp_data *d, int bare_lf)
{
	memset(d, 0, sizeof(*d));
	d->state = D_TEXT;
	d->bare_lf = bare_lf;
}

void
mx_smtp_chunk_feed(struct mx_smtp_data *d, const uint8_t *p, size_t n,
		mx_smtp_data_out_fn *out, void *arg)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		uint8_t c;

		if (d->state == D_TEXT) {
			i = next_break(p, i, n);
			if (i == n)
				break;
		}
		c = p[i];
		if (d->state == D_CR) {
			d->state = D_TEXT;
			if (c == '\n') {
				emit(out, arg, crlf, 2);
				run = i + 1;
				continue;
			}
			bare_break(d, '\r', out, arg);
			run = i;
		}
		if (c == '\r') {
			emit(out, arg, p + run, i - run);
			run = i + 1;
			d->state = D_CR;
		} else if (c == '\n') {
			emit(out, arg, p + run, i - run);
			bare_break(d, c, out, arg);
			run = i + 1;
		}
	}
	emit(out, arg, p + run, n - run);
}

void
mx_smtp_chunk_end(struct mx_smtp_data *d, mx_smtp_data_out_fn *out, void *arg)
{
	if (d->state == D_CR) {
		bare_break(d, '\r', out, arg);
		d->state = D_TEXT;
	}
}
