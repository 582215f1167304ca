/*
 * ob_log.c - the outbox's write-ahead log (see ob_int.h). It knows
 * nothing of what its records hold.
 *
 * Positions: an LSN counts bytes of the endless log; its record sits at
 * OB_LOG_HEADER + lsn % ring in the file. Heads are little-endian.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "le.h"
#include "log.h"
#include "ob_int.h"
#include "status.h"

#define HDR_MAGIC	"DVQLOG1"	/* 8 bytes with its NUL */
#define HDR_VERSION	1
#define HDR_LEN		44		/* what the header page uses */
#define REC_MAGIC	0x4c515644u	/* "DVQL" */
#define REC_DATA	1
#define REC_JUMP	2		/* payload: the next record's LSN */
#define JUMP_LEN	(OB_LOG_HEAD + 8)
#define IOV_BATCH	512		/* below every system's IOV_MAX */

struct ob_log {
	int fd;
	char *path;
	size_t ring;
	uint64_t ident;
	uint64_t end;		/* LSN after the last record */
	uint64_t hwm;		/* no LSN in the file is this high */
};

/*
 * CRC-32C (Castagnoli), reflected: entry i is i run through 8 rounds of
 * c = (c >> 1) ^ (0x82f63b78 & -(c & 1)). A constant table, so no thread
 * ever has to build it (test_qlog checks the standard check value).
 */
static const uint32_t crc_table[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u,
	0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu,
	0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
	0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u,
	0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu,
	0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
	0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
	0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu,
	0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
	0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u,
	0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u,
	0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
	0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u,
	0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
	0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u,
	0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u,
	0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
	0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u,
	0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u,
	0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
	0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u,
	0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu, 0xc8ac71e8u,
	0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
	0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u,
	0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u,
	0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
	0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
	0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u,
	0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u,
	0x3cdb9bddu, 0xceb018deu, 0xdde0eb2au, 0x2f8b6829u,
	0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
	0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u,
	0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
	0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
	0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u,
	0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu,
	0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
	0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u,
	0xa24bb5a6u, 0x502036a5u, 0x4370c551u, 0xb11b4652u,
	0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
	0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du,
	0xef087a76u, 0x1d63f975u, 0x0e330a81u, 0xfc588982u,
	0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u,
	0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u,
	0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
	0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
	0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu,
	0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
	0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u,
	0xd3d3e1abu, 0x21b862a8u, 0x32e8915cu, 0xc083125fu,
	0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
	0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u,
	0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
	0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
	0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u,
	0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u,
	0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u,
	0x34f4f86au, 0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu,
	0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
	0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t
ob_crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static off_t
file_off(const struct ob_log *q, uint64_t lsn)
{
	return (off_t)(OB_LOG_HEADER + lsn % q->ring);
}

static size_t
lap_left(const struct ob_log *q, uint64_t lsn)
{
	return q->ring - (size_t)(lsn % q->ring);
}

/*
 * A record's head: magic, type, LSN, payload length, then the CRC of the
 * 20 bytes before it and the payload.
 */
static void
head_make(unsigned char h[OB_LOG_HEAD], uint32_t type, uint64_t lsn,
    const void *data, size_t len)
{
	le_put(h, REC_MAGIC, 4);
	le_put(h + 4, type, 4);
	le_put(h + 8, lsn, 8);
	le_put(h + 16, (uint32_t)len, 4);
	le_put(h + 20, ob_crc32c(ob_crc32c(0, h, 20), data, len), 4);
}

/* pwrite() or pread() all of @len bytes at @off. */
static int
io_all(int fd, bool out, void *buf, size_t len, off_t off)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = out ? pwrite(fd, p, len, off) :
		    pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
write_all(int fd, const void *buf, size_t len, off_t off)
{
	return io_all(fd, true, (void *)buf, len, off);
}

static int
read_all(int fd, void *buf, size_t len, off_t off)
{
	return io_all(fd, false, buf, len, off);
}

static int
header_write(struct ob_log *q)
{
	unsigned char h[HDR_LEN] = HDR_MAGIC;

	le_put(h + 8, HDR_VERSION, 4);
	le_put(h + 12, 0, 4);
	le_put(h + 16, q->ring, 8);
	le_put(h + 24, q->ident, 8);
	le_put(h + 32, q->hwm, 8);
	le_put(h + 40, ob_crc32c(0, h, 40), 4);
	return write_all(q->fd, h, sizeof(h), 0);
}

static int
fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") :
	    strndup(path, (size_t)(slash - path));
	int fd, rc = 0;

	if (dir == NULL)
		return ENOMEM;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0)
		rc = errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/*
 * Make a new log at q->path: header and a zeroed ring, written in full
 * under a temporary name and renamed into place once durable.
 */
static int
log_create(struct ob_log *q, const char **error_r)
{
	static const unsigned char zeros[64 * 1024];
	size_t tlen = strlen(q->path) + 5;
	char *tmp = malloc(tlen);
	int rc = 0;

	if (tmp == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	snprintf(tmp, tlen, "%s.new", q->path);
	if (RAND_bytes((unsigned char *)&q->ident, sizeof(q->ident)) != 1) {
		*error_r = dv_error_set("%s: no random bytes for the log's "
		    "identity", q->path);
		free(tmp);
		return DV_ESTORE;
	}
	q->ident |= 1;			/* never 0: that means none */
	q->end = 0;
	q->hwm = 2 * (uint64_t)q->ring;
	/* A stale one goes: whatever it is, it is not opened. */
	(void)unlink(tmp);
	if ((q->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		rc = errno;
		goto fail;
	}
	for (size_t off = 0; off < OB_LOG_HEADER + q->ring && rc == 0;
	    off += sizeof(zeros))
		rc = write_all(q->fd, zeros, sizeof(zeros), (off_t)off);
	if (rc == 0)
		rc = header_write(q);
	if (rc == 0 && fsync(q->fd) != 0)
		rc = errno;
	if (rc == 0 && rename(tmp, q->path) != 0)
		rc = errno;
	if (rc == 0)
		rc = fsync_dir(q->path);
	if (rc == 0) {
		free(tmp);
		return 0;
	}
fail:
	*error_r = dv_error_set("cannot make the outbox log %s: %s", tmp,
	    strerror(rc));
	if (q->fd >= 0) {
		close(q->fd);
		q->fd = -1;
	}
	(void)unlink(tmp);
	free(tmp);
	return rc;
}

/* Read and check the header of an existing log. */
static int
header_read(struct ob_log *q, const char **error_r)
{
	unsigned char h[HDR_LEN];
	struct stat sb;
	uint64_t ring;
	int rc;

	if ((rc = read_all(q->fd, h, sizeof(h), 0)) != 0) {
		*error_r = dv_error_set("outbox log %s: cannot read its header: "
		    "%s", q->path, rc == EIO ? "file too short" : strerror(rc));
		return rc == EIO ? DV_ECORRUPT : rc;
	}
	ring = le_get(h + 16, 8);
	if (memcmp(h, HDR_MAGIC, 8) != 0 || le_get(h + 40, 4) !=
	    ob_crc32c(0, h, 40)) {
		*error_r = dv_error_set("outbox log %s: not an outbox log, or "
		    "its header is damaged", q->path);
		return DV_ECORRUPT;
	}
	if (le_get(h + 8, 4) != HDR_VERSION) {
		*error_r = dv_error_set("outbox log %s: format %u, this "
		    "dvmilter reads %u", q->path, (unsigned)le_get(h + 8, 4),
		    HDR_VERSION);
		return DV_ESCHEMA;
	}
	if (fstat(q->fd, &sb) != 0 || ring < OB_LOG_RING_MIN || ring % 4096 ||
	    (uint64_t)sb.st_size < OB_LOG_HEADER + ring) {
		*error_r = dv_error_set("outbox log %s: ring of %llu bytes in "
		    "a file of %lld", q->path, (unsigned long long)ring,
		    (long long)sb.st_size);
		return DV_ECORRUPT;
	}
	q->ring = (size_t)ring;
	q->ident = le_get(h + 24, 8);
	q->hwm = le_get(h + 32, 8);
	return 0;
}

/*
 * Read the records from @start on, calling @replay for each, until a
 * head or payload does not check out; q->end is then after the last.
 */
static int
log_scan(struct ob_log *q, uint64_t start,
    int (*replay)(const struct ob_log_rec *, uint64_t, void *), void *arg,
    const char **error_r)
{
	unsigned char h[OB_LOG_HEAD], *buf = NULL;
	size_t cap = 0;
	uint64_t lsn = start;
	int rc = 0;

	for (;;) {
		size_t left = lap_left(q, lsn), len;
		uint32_t type;

		if (left < JUMP_LEN) {		/* no room for a head here */
			lsn += left;
			continue;
		}
		if (read_all(q->fd, h, sizeof(h), file_off(q, lsn)) != 0 ||
		    le_get(h, 4) != REC_MAGIC || le_get(h + 8, 8) != lsn)
			break;
		type = (uint32_t)le_get(h + 4, 4);
		len = (uint32_t)le_get(h + 16, 4);
		if ((type != REC_DATA && type != REC_JUMP) ||
		    ob_log_framed(len) > left ||
		    (type == REC_JUMP && len != 8))
			break;
		if (len > cap) {
			unsigned char *nb = realloc(buf, len);

			if (nb == NULL) {
				*error_r = dv_error_set("out of memory");
				rc = ENOMEM;
				break;
			}
			buf = nb;
			cap = len;
		}
		if (read_all(q->fd, buf, len, file_off(q, lsn) + OB_LOG_HEAD) !=
		    0 || le_get(h + 20, 4) != ob_crc32c(ob_crc32c(0, h, 20), buf,
		    len))
			break;
		if (type == REC_JUMP) {
			uint64_t to = le_get(buf, 8);

			if (to <= lsn)
				break;
			lsn = to;
			continue;
		}
		if ((rc = replay(&(struct ob_log_rec){ buf, len }, lsn,
		    arg)) != 0) {
			*error_r = dv_error_set("outbox log %s: reading it "
			    "back: %s", q->path, dv_strerror(rc));
			break;
		}
		lsn += ob_log_framed(len);
	}
	free(buf);
	q->end = lsn;
	return rc;
}

/*
 * After the records read, continue at an LSN no byte of the file has
 * ever been written at, one lap or more ahead: what follows the last
 * good record (the rest of a torn write, an earlier lap) can then never
 * pass for a record. A jump record at the end leads reading there.
 */
static int
log_restart(struct ob_log *q, const char **error_r)
{
	unsigned char rec[JUMP_LEN] = { 0 }, to[8];
	uint64_t at = q->end, next;
	int rc;

	if (lap_left(q, at) < JUMP_LEN)
		at += lap_left(q, at);
	next = at + JUMP_LEN + q->ring;
	while (next < q->hwm)
		next += q->ring;
	le_put(to, next, 8);
	head_make(rec, REC_JUMP, at, to, sizeof(to));
	memcpy(rec + OB_LOG_HEAD, to, sizeof(to));
	q->hwm = next + 2 * (uint64_t)q->ring;
	if ((rc = header_write(q)) != 0 ||
	    (rc = write_all(q->fd, rec, sizeof(rec), file_off(q, at))) != 0 ||
	    (fdatasync(q->fd) != 0 && (rc = errno) != 0)) {
		*error_r = dv_error_set("outbox log %s: %s", q->path,
		    strerror(rc));
		return rc;
	}
	q->end = next;
	return 0;
}

/* Keep a log that is not this store's, under another name. */
static int
log_set_aside(struct ob_log *q, const char **error_r)
{
	size_t len = strlen(q->path) + 40;
	char *aside = malloc(len);
	int rc = 0;

	if (aside == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	snprintf(aside, len, "%s.%016llx", q->path,
	    (unsigned long long)q->ident);
	if (rename(q->path, aside) != 0) {
		rc = errno;
		*error_r = dv_error_set("outbox log %s belongs to another "
		    "store, and cannot be renamed to %s: %s", q->path, aside,
		    strerror(rc));
	} else
		log_warn("outbox log %s belongs to another store (identity "
		    "%016llx); kept as %s, and a new one made", q->path,
		    (unsigned long long)q->ident, aside);
	free(aside);
	close(q->fd);
	q->fd = -1;
	return rc;
}

int
ob_log_open(const char *path, size_t ring, uint64_t ident, uint64_t start,
    int (*replay)(const struct ob_log_rec *rec, uint64_t lsn, void *arg),
    void *arg, struct ob_log **q_r, const char **error_r)
{
	struct ob_log *q;
	int rc;

	if (ring < OB_LOG_RING_MIN || ring % 4096 != 0) {
		*error_r = dv_error_set("outbox log %s: a ring of %zu bytes",
		    path, ring);
		return DV_EINVAL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->path = strdup(path)) == NULL) {
		free(q);
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	q->ring = ring;
	q->fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (q->fd < 0 && errno != ENOENT) {
		rc = errno;
		*error_r = dv_error_set("cannot open the outbox log %s: %s",
		    path, strerror(rc));
		goto fail;
	}
	if (q->fd >= 0) {
		if ((rc = header_read(q, error_r)) != 0)
			goto fail;
		if (q->ident != ident &&
		    (rc = log_set_aside(q, error_r)) != 0)
			goto fail;
		q->ring = q->fd < 0 ? ring : q->ring;
	}
	if (q->fd < 0) {
		if ((rc = log_create(q, error_r)) != 0)
			goto fail;
		start = 0;
	}
	if ((rc = log_scan(q, start, replay, arg, error_r)) != 0 ||
	    (rc = log_restart(q, error_r)) != 0)
		goto fail;
	*q_r = q;
	return 0;
fail:
	ob_log_close(q);
	return rc;
}

int
ob_log_peek(const char *path, uint64_t ident, uint64_t start,
    int (*replay)(const struct ob_log_rec *rec, uint64_t lsn, void *arg),
    void *arg, const char **error_r)
{
	struct ob_log q = { .fd = -1, .path = (char *)path };
	int rc = 0;

	if ((q.fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = errno;
		*error_r = dv_error_set("cannot open the outbox log %s: %s",
		    path, strerror(rc));
		return rc;
	}
	if ((rc = header_read(&q, error_r)) == 0 && q.ident == ident &&
	    ident != 0)
		rc = log_scan(&q, start, replay, arg, error_r);
	close(q.fd);
	return rc;
}

uint64_t
ob_log_ident(const struct ob_log *q)
{
	return q->ident;
}

uint64_t
ob_log_end(const struct ob_log *q)
{
	return q->end;
}

size_t
ob_log_ring(const struct ob_log *q)
{
	return q->ring;
}

/* Where @n records of @recs would end, appended at q->end. */
static uint64_t
end_after(const struct ob_log *q, const struct ob_log_rec *recs, size_t n)
{
	uint64_t lsn = q->end;

	for (size_t i = 0; i < n; i++) {
		size_t f = ob_log_framed(recs[i].len);

		if (f > lap_left(q, lsn))
			lsn += lap_left(q, lsn);
		lsn += f;
	}
	return lsn;
}

bool
ob_log_room(const struct ob_log *q, uint64_t keep, const struct ob_log_rec *recs,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ob_log_framed(recs[i].len) > q->ring ||
		    recs[i].len > UINT32_MAX)
			return false;
	return end_after(q, recs, n) - keep <= q->ring;
}

/* Write @niov pieces at @off. */
static int
write_iov(int fd, struct iovec *iov, int niov, off_t off)
{
	while (niov > 0) {
		ssize_t n = pwritev(fd, iov, niov, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		off += n;
		while (niov > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int
ob_log_append(struct ob_log *q, const struct ob_log_rec *recs, size_t n,
    uint64_t *lsns, const char **error_r)
{
	static const unsigned char pad[8];
	unsigned char (*heads)[JUMP_LEN];
	struct iovec iov[IOV_BATCH];
	uint64_t lsn = q->end, run_at = lsn;
	int niov = 0, rc = 0;

	if (q->fd < 0) {
		*error_r = dv_error_set("outbox log %s: failed before",
		    q->path);
		return EIO;
	}
	if ((heads = malloc((n + 1) * sizeof(*heads))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	/* The header page first, if this append passes its bound. */
	if (end_after(q, recs, n) + q->ring > q->hwm) {
		q->hwm = end_after(q, recs, n) + 2 * (uint64_t)q->ring;
		rc = header_write(q);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t f = ob_log_framed(recs[i].len), left = lap_left(q, lsn);

		/* A run of pieces ends at the end of the ring. */
		if (f > left || niov + 3 > IOV_BATCH) {
			if (f > left && left >= JUMP_LEN) {
				unsigned char *j = heads[n];
				uint64_t to = lsn + left;

				le_put(j + OB_LOG_HEAD, to, 8);
				head_make(j, REC_JUMP, lsn, j + OB_LOG_HEAD, 8);
				iov[niov++] = (struct iovec){ j, JUMP_LEN };
			}
			if (niov > 0 && (rc = write_iov(q->fd, iov, niov,
			    file_off(q, run_at))) != 0)
				break;
			niov = 0;
			if (f > left)
				lsn += left;
			run_at = lsn;
		}
		head_make(heads[i], REC_DATA, lsn, recs[i].data, recs[i].len);
		iov[niov++] = (struct iovec){ heads[i], OB_LOG_HEAD };
		if (recs[i].len > 0)
			iov[niov++] = (struct iovec){ (void *)recs[i].data,
			    recs[i].len };
		if (f - OB_LOG_HEAD > recs[i].len)
			iov[niov++] = (struct iovec){ (void *)pad,
			    f - OB_LOG_HEAD - recs[i].len };
		if (lsns != NULL)
			lsns[i] = lsn;
		lsn += f;
	}
	if (rc == 0 && niov > 0)
		rc = write_iov(q->fd, iov, niov, file_off(q, run_at));
	if (rc == 0 && fdatasync(q->fd) != 0)
		rc = errno;
	free(heads);
	if (rc != 0) {
		*error_r = dv_error_set("outbox log %s: %s", q->path,
		    strerror(rc));
		/* What reached the disk is unknown: append no more. */
		close(q->fd);
		q->fd = -1;
		return rc;
	}
	q->end = lsn;
	return 0;
}

void
ob_log_close(struct ob_log *q)
{
	if (q == NULL)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->path);
	free(q);
}
