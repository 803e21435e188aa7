/*
 * iscsi-load: keeps QD READ(16)/WRITE(16) commands in flight against one iSCSI LUN with
 * libiscsi's async API (one poll() loop, each command re-issued from its completion), and prints
 * one JSON line: ops, IOPS, MiB/s, p50/p99 latency. Built at bench time from libiscsi-dev.
 *
 *   iscsi-load URL randread|randwrite|seqread|seqwrite BYTES_PER_IO QD SECONDS
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_LAT_US 2000000 /* latencies above 2 s land in the last bucket */

struct slot {
	struct run *run;
	unsigned char *buf;
	uint64_t started_ns;
};

struct run {
	struct iscsi_context *iscsi;
	int lun, writing, random, stop;
	uint32_t block_size, blocks_per_io;
	uint64_t nblocks, next_lba, ops, errors, deadline_ns, in_flight;
	uint32_t *lat_hist;
	struct scsi_iovec *iov;
};

static double tv_s(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return rng;
}

static void issue(struct slot *s);

static void done(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct slot *s = private_data;
	struct run *r = s->run;
	(void)iscsi;
	uint64_t us = (now_ns() - s->started_ns) / 1000;
	r->lat_hist[us < MAX_LAT_US ? us : MAX_LAT_US]++;
	if (status != SCSI_STATUS_GOOD) {
		if (r->errors++ < 5)
			fprintf(stderr, "iscsi-load: command failed: %s\n", iscsi_get_error(r->iscsi));
	} else {
		r->ops++;
	}
	scsi_free_scsi_task(command_data);
	r->in_flight--;
	if (!r->stop && now_ns() < r->deadline_ns)
		issue(s);
}

static void issue(struct slot *s)
{
	struct run *r = s->run;
	uint64_t lba;
	uint64_t slots = r->nblocks / r->blocks_per_io;
	if (r->random) {
		lba = (next_random() % slots) * r->blocks_per_io;
	} else {
		lba = r->next_lba;
		r->next_lba += r->blocks_per_io;
		if (r->next_lba + r->blocks_per_io > r->nblocks)
			r->next_lba = 0;
	}
	uint32_t len = r->blocks_per_io * r->block_size;
	struct scsi_task *t;
	s->started_ns = now_ns();
	if (r->writing) {
		t = iscsi_write16_task(r->iscsi, r->lun, lba, s->buf, len, r->block_size, 0, 0, 0, 0, 0, done, s);
	} else {
		t = iscsi_read16_task(r->iscsi, r->lun, lba, len, r->block_size, 0, 0, 0, 0, 0, done, s);
		if (t)
			scsi_task_add_data_in_buffer(t, len, s->buf);
	}
	if (!t) {
		fprintf(stderr, "iscsi-load: cannot queue a command: %s\n", iscsi_get_error(r->iscsi));
		r->stop = 1;
		return;
	}
	r->in_flight++;
}

static uint64_t percentile(const uint32_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(total * p), seen = 0;
	for (uint64_t us = 0; us <= MAX_LAT_US; us++) {
		seen += hist[us];
		if (seen > want)
			return us;
	}
	return MAX_LAT_US;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: iscsi-load URL randread|randwrite|seqread|seqwrite BYTES_PER_IO QD SECONDS\n");
		return 2;
	}
	const char *workload = argv[2];
	uint32_t io_bytes = strtoul(argv[3], NULL, 0);
	int qd = atoi(argv[4]);
	double seconds = atof(argv[5]);
	struct run r;
	memset(&r, 0, sizeof(r));
	r.writing = strstr(workload, "write") != NULL;
	r.random = strncmp(workload, "rand", 4) == 0;

	r.iscsi = iscsi_create_context("iqn.2026-11.org.fileio-tgt:bench");
	struct iscsi_url *url = iscsi_parse_full_url(r.iscsi, argv[1]);
	if (!url) {
		fprintf(stderr, "iscsi-load: bad URL: %s\n", iscsi_get_error(r.iscsi));
		return 1;
	}
	iscsi_set_targetname(r.iscsi, url->target);
	iscsi_set_session_type(r.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(r.iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(r.iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi-load: login failed: %s\n", iscsi_get_error(r.iscsi));
		return 1;
	}
	r.lun = url->lun;
	struct scsi_task *cap = iscsi_readcapacity16_sync(r.iscsi, r.lun);
	struct scsi_readcapacity16 *rc16 = cap && cap->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(cap) : NULL;
	if (!rc16) {
		fprintf(stderr, "iscsi-load: READ CAPACITY(16) failed: %s\n", iscsi_get_error(r.iscsi));
		return 1;
	}
	r.block_size = rc16->block_length;
	r.nblocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(cap);
	if (io_bytes % r.block_size || io_bytes == 0) {
		fprintf(stderr, "iscsi-load: %u bytes is not a multiple of the %u-byte block\n", io_bytes, r.block_size);
		return 1;
	}
	r.blocks_per_io = io_bytes / r.block_size;
	r.lat_hist = calloc(MAX_LAT_US + 1, sizeof(uint32_t));
	struct slot *slots = calloc(qd, sizeof(*slots));
	for (int i = 0; i < qd; i++) {
		slots[i].run = &r;
		slots[i].buf = aligned_alloc(4096, (io_bytes + 4095) & ~4095u);
		memset(slots[i].buf, 0x5a ^ i, io_bytes);
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t start = now_ns();
	r.deadline_ns = start + (uint64_t)(seconds * 1e9);
	for (int i = 0; i < qd; i++)
		issue(&slots[i]);
	while (r.in_flight > 0) {
		struct pollfd pfd = { .fd = iscsi_get_fd(r.iscsi), .events = iscsi_which_events(r.iscsi) };
		if (poll(&pfd, 1, 1000) < 0)
			break;
		if (iscsi_service(r.iscsi, pfd.revents) < 0) {
			fprintf(stderr, "iscsi-load: connection failed: %s\n", iscsi_get_error(r.iscsi));
			return 1;
		}
	}
	double elapsed = (now_ns() - start) / 1e9;
	getrusage(RUSAGE_SELF, &ru1);
	/* the load generator's own CPU, % of one core: with 2 cores, what it uses the target cannot */
	double client_cpu = 100.0 * (tv_s(ru1.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_utime) - tv_s(ru0.ru_stime)) / elapsed;
	uint64_t total = r.ops + r.errors;
	printf("{\"workload\":\"%s\",\"bytes\":%u,\"qd\":%d,\"seconds\":%.3f,\"ops\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"iops\":%.0f,\"mibps\":%.1f,\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64 ",\"client_cpu\":%.0f}\n",
	       workload, io_bytes, qd, elapsed, r.ops, r.errors, r.ops / elapsed, r.ops * (double)io_bytes / elapsed / 1048576.0,
	       percentile(r.lat_hist, total, 0.50), percentile(r.lat_hist, total, 0.99), client_cpu);
	iscsi_logout_sync(r.iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(r.iscsi);
	return r.errors ? 1 : 0;
}
