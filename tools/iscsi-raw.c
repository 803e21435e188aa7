/*
 * iscsi-raw: send raw CDBs over libiscsi (an sg_raw look-alike for iSCSI URLs).
 *
 *   iscsi-raw [-i LEN] [-o FILE] [-x] iscsi://HOST:PORT/IQN/LUN CDBHEX
 *   iscsi-raw -s iscsi://HOST:PORT/IQN/LUN      (script mode: one request per stdin line)
 *
 * -i LEN   expect LEN bytes of data-in;   -o FILE  send FILE as data-out;   -x  hexdump the data
 * Script lines: "CDBHEX [in=LEN] [out=HEXDATA]"; all run on one session (one I_T nexus), so unit
 * attentions and events queued between lines are seen. A line "#..." is echoed and ignored.
 *
 * Output, one line per command:
 *   status=0xSS sense=K/AA/QQ|- residual=N len=N data=HEX
 * Exit status: 0 when every command completed (whatever its SCSI status), 1 on usage/transport error.
 *
 * Built by scripts/test.mjs: gcc -O2 -o dist/tools/iscsi-raw tools/iscsi-raw.c -liscsi
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static int parse_hex(const char *s, unsigned char *out, int max)
{
	int n = 0;
	while (*s && !isspace((unsigned char)*s)) {
		unsigned int v;
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || n >= max) return -1;
		if (sscanf(s, "%2x", &v) != 1) return -1;
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return n;
}

static void print_result(struct scsi_task *task, int hexdump)
{
	int i;
	printf("status=0x%02x", task->status);
	if (task->status == SCSI_STATUS_CHECK_CONDITION)
		printf(" sense=%x/%02x/%02x", task->sense.key, (task->sense.ascq >> 8) & 0xff, task->sense.ascq & 0xff);
	else
		printf(" sense=-");
	printf(" residual=%d len=%d data=", task->residual_status == SCSI_RESIDUAL_NO_RESIDUAL ? 0 : (task->residual_status == SCSI_RESIDUAL_OVERFLOW ? -(int)task->residual : (int)task->residual), task->datain.size);
	for (i = 0; i < task->datain.size; i++) printf("%02x", task->datain.data[i]);
	printf("\n");
	if (hexdump) {
		for (i = 0; i < task->datain.size; i += 16) {
			int j;
			printf("%04x ", i);
			for (j = i; j < i + 16 && j < task->datain.size; j++) printf(" %02x", task->datain.data[j]);
			printf("\n");
		}
	}
	fflush(stdout);
}

static int run_one(struct iscsi_context *iscsi, int lun, const unsigned char *cdb, int cdblen, int inlen, unsigned char *out, int outlen, int hexdump)
{
	struct scsi_task *task = scsi_create_task(cdblen, (unsigned char *)cdb, outlen > 0 ? SCSI_XFER_WRITE : inlen > 0 ? SCSI_XFER_READ : SCSI_XFER_NONE, outlen > 0 ? outlen : inlen);
	struct iscsi_data d = { .size = (size_t)outlen, .data = out };
	if (!task) {
		fprintf(stderr, "iscsi-raw: out of memory\n");
		return -1;
	}
	if (iscsi_scsi_command_sync(iscsi, lun, task, outlen > 0 ? &d : NULL) == NULL) {
		fprintf(stderr, "iscsi-raw: command failed: %s\n", iscsi_get_error(iscsi));
		scsi_free_scsi_task(task);
		return -1;
	}
	print_result(task, hexdump);
	scsi_free_scsi_task(task);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: iscsi-raw [-i LEN] [-o FILE] [-x] ISCSI-URL CDBHEX\n       iscsi-raw -s ISCSI-URL   (lines \"CDBHEX [in=LEN] [out=HEX]\" on stdin)\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int opt, inlen = 0, hexdump = 0, script = 0, outlen = 0;
	const char *outfile = NULL;
	unsigned char cdb[260], *out = NULL;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;

	while ((opt = getopt(argc, argv, "i:o:xs")) != -1) {
		switch (opt) {
		case 'i': inlen = atoi(optarg); break;
		case 'o': outfile = optarg; break;
		case 'x': hexdump = 1; break;
		case 's': script = 1; break;
		default: usage();
		}
	}
	if (optind + (script ? 1 : 2) != argc) usage();

	iscsi = iscsi_create_context("iqn.2026-01.org.fileio-tgt:iscsi-raw");
	if (!iscsi) {
		fprintf(stderr, "iscsi-raw: cannot create context\n");
		return 1;
	}
	url = iscsi_parse_full_url(iscsi, argv[optind]);
	if (!url) {
		fprintf(stderr, "iscsi-raw: bad URL: %s\n", iscsi_get_error(iscsi));
		return 1;
	}
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi-raw: login failed: %s\n", iscsi_get_error(iscsi));
		return 1;
	}
	/* A test tool must report a lost target, not spin reconnecting to it (tests kill targets). */
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 60);

	if (!script) {
		int cdblen = parse_hex(argv[optind + 1], cdb, sizeof(cdb));
		if (cdblen < 6) usage();
		if (outfile) {
			FILE *f = fopen(outfile, "rb");
			long sz;
			if (!f) { perror(outfile); return 1; }
			fseek(f, 0, SEEK_END);
			sz = ftell(f);
			fseek(f, 0, SEEK_SET);
			out = malloc(sz > 0 ? sz : 1);
			outlen = (int)fread(out, 1, sz, f);
			fclose(f);
		}
		if (run_one(iscsi, url->lun, cdb, cdblen, inlen, out, outlen, hexdump) != 0) return 1;
	} else {
		char line[65536];
		static unsigned char data[32768];
		while (fgets(line, sizeof(line), stdin)) {
			char *tok, *save = NULL;
			int cdblen, in = 0, olen = 0;
			if (line[0] == '#') {
				printf("%s", line);
				fflush(stdout);
				continue;
			}
			tok = strtok_r(line, " \t\r\n", &save);
			if (!tok) continue;
			cdblen = parse_hex(tok, cdb, sizeof(cdb));
			if (cdblen < 6) {
				printf("error=bad-cdb\n");
				fflush(stdout);
				continue;
			}
			while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
				if (!strncmp(tok, "in=", 3)) in = atoi(tok + 3);
				else if (!strncmp(tok, "out=", 4)) olen = parse_hex(tok + 4, data, sizeof(data));
			}
			if (olen < 0 || run_one(iscsi, url->lun, cdb, cdblen, in, olen > 0 ? data : NULL, olen, hexdump) != 0) return 1;
		}
	}
	iscsi_logout_sync(iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	return 0;
}
