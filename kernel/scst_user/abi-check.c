// SPDX-License-Identifier: GPL-2.0-only
/*
 * abi-check.c - print the scst_user ABI as the C compiler sees it, as one JSON object:
 *
 *   { "abi": "fileio_tgt" | "upstream", "arch": ..., "compiler": ...,
 *     "structs":   { "<struct>": { "size": n, "align": n,
 *                                  "fields": { "<path>": { "off": n, "size": n,
 *                                                          "signed": true|false|null } } } },
 *     "ioctls":    { "SCST_USER_...": n },
 *     "subcodes":  { "SCST_USER_...": n },
 *     "constants": { "NAME": n },
 *     "strings":   { "NAME": "..." } }
 *
 * Field paths inside scst_user_get_cmd and scst_user_reply_cmd include the union member
 * ("exec_cmd.pbuf"), and their offsets are absolute. "signed" is null for arrays,
 * nested structs and the flexible array (whose "size" is printed as 0).
 *
 * Build against our header (the default):
 *     gcc -std=gnu11 -Wall -Wextra -Werror -o abi-check abi-check.c
 * or against SCST's installed headers, to compare the two outputs:
 *     gcc -std=gnu11 -DSCST_ABI_CHECK_UPSTREAM -I/usr/include/scst -o abi-check abi-check.c
 * (that needs scst_user.h, scst_const.h and the generated scst_itf_ver.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef SCST_ABI_CHECK_UPSTREAM
#include <linux/ioctl.h>
#include <scst_user.h>
#define ABI_NAME "upstream"
#else
#include "scst_user_abi.h"
#define ABI_NAME "fileio_tgt"
#endif

/* ---- a tiny JSON emitter ---------------------------------------------------------- */

static int need_comma[8];
static int depth;

static void sep(void)
{
	if (need_comma[depth])
		putchar(',');
	need_comma[depth] = 1;
	printf("\n%*s", 2 * depth, "");
}

static void open_obj(const char *key)
{
	sep();
	if (key)
		printf("\"%s\": ", key);
	putchar('{');
	need_comma[++depth] = 0;
}

static void close_obj(void)
{
	depth--;
	printf("\n%*s}", 2 * depth, "");
}

static void num(const char *key, long long v)
{
	sep();
	printf("\"%s\": %lld", key, v);
}

static void unum(const char *key, unsigned long long v)
{
	sep();
	printf("\"%s\": %llu", key, v);
}

static void str(const char *key, const char *v)
{
	sep();
	printf("\"%s\": \"", key);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			putchar('\\');
		putchar(*v);
	}
	putchar('"');
}

/* sgn: 1 signed, 0 unsigned, -1 not an integer */
static void field(const char *path, size_t off, size_t size, int sgn)
{
	sep();
	printf("\"%s\": { \"off\": %zu, \"size\": %zu, \"signed\": %s }", path, off, size,
	       sgn < 0 ? "null" : sgn ? "true" : "false");
}

/* ---- field lists ------------------------------------------------------------------ */

/* (T)-1 < 0 is the signedness test; for unsigned T gcc would warn that it is always false. */
#pragma GCC diagnostic ignored "-Wtype-limits"
#define IS_SIGNED(x) (((__typeof__(x))-1) < (__typeof__(x))0)
#define MEMBER(T, path) (((T *)0)->path)

/*
 * X(T, M, f, kind): T is the outer type, M the prefix inside it ("" or "exec_cmd."), f the
 * field, kind INT (integer) or AGG (array or struct).
 */
#define F_INT(T, M, f) field(#M #f, offsetof(T, M f), sizeof(MEMBER(T, M f)), IS_SIGNED(MEMBER(T, M f)))
#define F_AGG(T, M, f) field(#M #f, offsetof(T, M f), sizeof(MEMBER(T, M f)), -1)
#define FIELD(T, M, f, kind) F_##kind(T, M, f);

#define OPT_FIELDS(X, T, M)							\
	X(T, M, parse_type, INT) X(T, M, on_free_cmd_type, INT)			\
	X(T, M, memory_reuse_type, INT) X(T, M, partial_transfers_type, INT)	\
	X(T, M, partial_len, INT) X(T, M, tst, INT) X(T, M, tmf_only, INT)	\
	X(T, M, queue_alg, INT) X(T, M, qerr, INT) X(T, M, tas, INT)		\
	X(T, M, swp, INT) X(T, M, d_sense, INT) X(T, M, has_own_order_mgmt, INT)	\
	X(T, M, ext_copy_remap_supported, INT)

#define DEV_DESC_FIELDS(X, T, M)						\
	X(T, M, version_str, INT) X(T, M, license_str, INT) X(T, M, type, INT)	\
	X(T, M, sgv_shared, INT) X(T, M, sgv_disable_clustered_pool, INT)	\
	X(T, M, sgv_single_alloc_pages, INT) X(T, M, sgv_purge_interval, INT)	\
	X(T, M, opt, AGG) X(T, M, block_size, INT)				\
	X(T, M, enable_pr_cmds_notifications, INT) X(T, M, name, AGG)		\
	X(T, M, sgv_name, AGG)

#define SESS_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, lun, INT) X(T, M, threads_num, INT)	\
	X(T, M, rd_only, INT) X(T, M, scsi_transport_version, INT)		\
	X(T, M, phys_transport_version, INT) X(T, M, initiator_name, AGG)	\
	X(T, M, target_name, AGG)

#define PARSE_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, cdb, AGG) X(T, M, cdb_len, INT)		\
	X(T, M, lba, INT) X(T, M, data_len, INT) X(T, M, bufflen, INT)		\
	X(T, M, out_bufflen, INT) X(T, M, timeout, INT) X(T, M, op_flags, INT)	\
	X(T, M, queue_type, INT) X(T, M, data_direction, INT)			\
	X(T, M, expected_values_set, INT) X(T, M, expected_data_direction, INT)	\
	X(T, M, expected_transfer_len, INT)					\
	X(T, M, expected_out_transfer_len, INT) X(T, M, sn, INT)

#define ALLOC_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, cdb, AGG) X(T, M, cdb_len, INT)		\
	X(T, M, alloc_len, INT) X(T, M, queue_type, INT)			\
	X(T, M, data_direction, INT) X(T, M, sn, INT)

#define EXEC_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, cdb, AGG) X(T, M, cdb_len, INT)		\
	X(T, M, lba, INT) X(T, M, data_len, INT) X(T, M, bufflen, INT)		\
	X(T, M, alloc_len, INT) X(T, M, pbuf, INT) X(T, M, queue_type, INT)	\
	X(T, M, data_direction, INT) X(T, M, partial, INT) X(T, M, timeout, INT)	\
	X(T, M, p_out_buf, INT) X(T, M, out_bufflen, INT) X(T, M, sn, INT)	\
	X(T, M, parent_cmd_h, INT) X(T, M, parent_cmd_data_len, INT)		\
	X(T, M, partial_offset, INT)

#define ON_FREE_FIELDS(X, T, M)							\
	X(T, M, pbuf, INT) X(T, M, resp_data_len, INT)				\
	X(T, M, buffer_cached, INT) X(T, M, aborted, INT) X(T, M, status, INT)	\
	X(T, M, delivery_status, INT)

#define CACHED_FIELDS(X, T, M) X(T, M, pbuf, INT)

#define TM_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, fn, INT) X(T, M, cmd_h_to_abort, INT)	\
	X(T, M, cmd_sn, INT) X(T, M, cmd_sn_set, INT)

#define DESCR_FIELDS(X, T, M)							\
	X(T, M, src_lba, INT) X(T, M, dst_lba, INT) X(T, M, data_len, INT)

#define REMAP_FIELDS(X, T, M)							\
	X(T, M, sess_h, INT) X(T, M, src_sess_h, INT) X(T, M, dst_sess_h, INT)	\
	X(T, M, data_descr, AGG) X(T, M, data_descr.src_lba, INT)		\
	X(T, M, data_descr.dst_lba, INT) X(T, M, data_descr.data_len, INT)

#define REPLY_PARSE_FIELDS(X, T, M)						\
	X(T, M, status, INT) X(T, M, queue_type, INT) X(T, M, data_direction, INT)	\
	X(T, M, cdb_len, INT) X(T, M, lba, INT) X(T, M, data_len, INT)		\
	X(T, M, bufflen, INT) X(T, M, op_flags, INT) X(T, M, out_bufflen, INT)	\
	X(T, M, sense_len, INT) X(T, M, psense_buffer, INT)

#define REPLY_ALLOC_FIELDS(X, T, M) X(T, M, pbuf, INT)

#define REPLY_EXEC_FIELDS(X, T, M)						\
	X(T, M, resp_data_len, INT) X(T, M, pbuf, INT) X(T, M, reply_type, INT)	\
	X(T, M, status, INT) X(T, M, sense_len, INT) X(T, M, psense_buffer, INT)	\
	X(T, M, ws_descriptors_len, INT) X(T, M, ws_descriptors, INT)

#define REPLY_REMAP_FIELDS(X, T, M)						\
	X(T, M, remap_descriptors, INT) X(T, M, remap_descriptors_len, INT)	\
	X(T, M, status, INT) X(T, M, sense_len, INT) X(T, M, psense_buffer, INT)

#define DATA_DESCR_FIELDS(X, T, M) X(T, M, usdd_lba, INT) X(T, M, usdd_blocks, INT)

#define GET_EXT_CDB_FIELDS(X, T, M) X(T, M, cmd_h, INT) X(T, M, ext_cdb_buffer, INT)

#define PREALLOC_IN_FIELDS(X, T, M)						\
	X(T, M, pbuf, INT) X(T, M, bufflen, INT) X(T, M, for_clust_pool, INT)

#define PREALLOC_OUT_FIELDS(X, T, M) X(T, M, cmd_h, INT)

#define STRUCT(name, T, LIST)							\
	do {									\
		open_obj(name);							\
		num("size", sizeof(T));						\
		num("align", _Alignof(T));					\
		open_obj("fields");						\
		LIST(FIELD, T, )						\
		close_obj();							\
		close_obj();							\
	} while (0)

typedef struct scst_user_get_cmd get_cmd_t;
typedef struct scst_user_reply_cmd reply_cmd_t;
typedef struct scst_user_get_multi get_multi_t;
typedef union scst_user_prealloc_buffer prealloc_t;

static void get_cmd_fields(void)
{
	FIELD(get_cmd_t, , cmd_h, INT)
	FIELD(get_cmd_t, , subcode, INT)
	FIELD(get_cmd_t, , preply, INT)
	FIELD(get_cmd_t, , sess, AGG)
	FIELD(get_cmd_t, , parse_cmd, AGG)
	FIELD(get_cmd_t, , alloc_cmd, AGG)
	FIELD(get_cmd_t, , exec_cmd, AGG)
	FIELD(get_cmd_t, , on_free_cmd, AGG)
	FIELD(get_cmd_t, , on_cached_mem_free, AGG)
	FIELD(get_cmd_t, , tm_cmd, AGG)
	FIELD(get_cmd_t, , remap_cmd, AGG)
	SESS_FIELDS(FIELD, get_cmd_t, sess.)
	PARSE_FIELDS(FIELD, get_cmd_t, parse_cmd.)
	ALLOC_FIELDS(FIELD, get_cmd_t, alloc_cmd.)
	EXEC_FIELDS(FIELD, get_cmd_t, exec_cmd.)
	ON_FREE_FIELDS(FIELD, get_cmd_t, on_free_cmd.)
	CACHED_FIELDS(FIELD, get_cmd_t, on_cached_mem_free.)
	TM_FIELDS(FIELD, get_cmd_t, tm_cmd.)
	REMAP_FIELDS(FIELD, get_cmd_t, remap_cmd.)
}

static void reply_cmd_fields(void)
{
	FIELD(reply_cmd_t, , cmd_h, INT)
	FIELD(reply_cmd_t, , subcode, INT)
	FIELD(reply_cmd_t, , result, INT)
	FIELD(reply_cmd_t, , parse_reply, AGG)
	FIELD(reply_cmd_t, , alloc_reply, AGG)
	FIELD(reply_cmd_t, , exec_reply, AGG)
	FIELD(reply_cmd_t, , remap_reply, AGG)
	REPLY_PARSE_FIELDS(FIELD, reply_cmd_t, parse_reply.)
	REPLY_ALLOC_FIELDS(FIELD, reply_cmd_t, alloc_reply.)
	REPLY_EXEC_FIELDS(FIELD, reply_cmd_t, exec_reply.)
	REPLY_REMAP_FIELDS(FIELD, reply_cmd_t, remap_reply.)
}

#define GET_CMD_LIST(X, T, M) get_cmd_fields();
#define REPLY_CMD_LIST(X, T, M) reply_cmd_fields();

static void structs(void)
{
	open_obj("structs");
	STRUCT("scst_user_opt", struct scst_user_opt, OPT_FIELDS);
	STRUCT("scst_user_dev_desc", struct scst_user_dev_desc, DEV_DESC_FIELDS);
	STRUCT("scst_user_sess", struct scst_user_sess, SESS_FIELDS);
	STRUCT("scst_user_scsi_cmd_parse", struct scst_user_scsi_cmd_parse, PARSE_FIELDS);
	STRUCT("scst_user_scsi_cmd_alloc_mem", struct scst_user_scsi_cmd_alloc_mem, ALLOC_FIELDS);
	STRUCT("scst_user_scsi_cmd_exec", struct scst_user_scsi_cmd_exec, EXEC_FIELDS);
	STRUCT("scst_user_scsi_on_free_cmd", struct scst_user_scsi_on_free_cmd, ON_FREE_FIELDS);
	STRUCT("scst_user_on_cached_mem_free", struct scst_user_on_cached_mem_free, CACHED_FIELDS);
	STRUCT("scst_user_tm", struct scst_user_tm, TM_FIELDS);
	STRUCT("scst_user_ext_copy_data_descr", struct scst_user_ext_copy_data_descr, DESCR_FIELDS);
	STRUCT("scst_user_ext_copy_remap", struct scst_user_ext_copy_remap, REMAP_FIELDS);
	STRUCT("scst_user_get_cmd", get_cmd_t, GET_CMD_LIST);
	STRUCT("scst_user_scsi_cmd_reply_parse", struct scst_user_scsi_cmd_reply_parse,
	       REPLY_PARSE_FIELDS);
	STRUCT("scst_user_scsi_cmd_reply_alloc_mem", struct scst_user_scsi_cmd_reply_alloc_mem,
	       REPLY_ALLOC_FIELDS);
	STRUCT("scst_user_data_descriptor", struct scst_user_data_descriptor, DATA_DESCR_FIELDS);
	STRUCT("scst_user_scsi_cmd_reply_exec", struct scst_user_scsi_cmd_reply_exec,
	       REPLY_EXEC_FIELDS);
	STRUCT("scst_user_ext_copy_reply_remap", struct scst_user_ext_copy_reply_remap,
	       REPLY_REMAP_FIELDS);
	STRUCT("scst_user_reply_cmd", reply_cmd_t, REPLY_CMD_LIST);
	STRUCT("scst_user_get_ext_cdb", struct scst_user_get_ext_cdb, GET_EXT_CDB_FIELDS);
	STRUCT("scst_user_prealloc_buffer_in", struct scst_user_prealloc_buffer_in,
	       PREALLOC_IN_FIELDS);
	STRUCT("scst_user_prealloc_buffer_out", struct scst_user_prealloc_buffer_out,
	       PREALLOC_OUT_FIELDS);

	open_obj("scst_user_prealloc_buffer");
	num("size", sizeof(prealloc_t));
	num("align", _Alignof(prealloc_t));
	open_obj("fields");
	FIELD(prealloc_t, , in, AGG)
	FIELD(prealloc_t, , out, AGG)
	PREALLOC_IN_FIELDS(FIELD, prealloc_t, in.)
	PREALLOC_OUT_FIELDS(FIELD, prealloc_t, out.)
	close_obj();
	close_obj();

	open_obj("scst_user_get_multi");
	num("size", sizeof(get_multi_t));
	num("align", _Alignof(get_multi_t));
	open_obj("fields");
	FIELD(get_multi_t, , preplies, INT)
	FIELD(get_multi_t, , replies_cnt, INT)
	FIELD(get_multi_t, , replies_done, INT)
	FIELD(get_multi_t, , cmds_cnt, INT)
	FIELD(get_multi_t, , pad, INT)
	field("cmds", offsetof(get_multi_t, cmds), 0, -1);
	close_obj();
	close_obj();

	close_obj();
}

#define IOCTL(n) unum(#n, (unsigned long)(n));
#define CONST(n) num(#n, (long long)(n));

static void numbers(void)
{
	open_obj("ioctls");
	IOCTL(SCST_USER_REGISTER_DEVICE)
	IOCTL(SCST_USER_UNREGISTER_DEVICE)
	IOCTL(SCST_USER_SET_OPTIONS)
	IOCTL(SCST_USER_GET_OPTIONS)
	IOCTL(SCST_USER_REPLY_AND_GET_CMD)
	IOCTL(SCST_USER_REPLY_CMD)
	IOCTL(SCST_USER_FLUSH_CACHE)
	IOCTL(SCST_USER_DEVICE_CAPACITY_CHANGED)
	IOCTL(SCST_USER_GET_EXTENDED_CDB)
	IOCTL(SCST_USER_PREALLOC_BUFFER)
	IOCTL(SCST_USER_REPLY_AND_GET_MULTI)
	close_obj();

	open_obj("subcodes");
	IOCTL(SCST_USER_ATTACH_SESS)
	IOCTL(SCST_USER_DETACH_SESS)
	IOCTL(SCST_USER_PARSE)
	IOCTL(SCST_USER_ALLOC_MEM)
	IOCTL(SCST_USER_EXEC)
	IOCTL(SCST_USER_ON_FREE_CMD)
	IOCTL(SCST_USER_ON_CACHED_MEM_FREE)
	IOCTL(SCST_USER_TASK_MGMT_RECEIVED)
	IOCTL(SCST_USER_TASK_MGMT_DONE)
	IOCTL(SCST_USER_EXT_COPY_REMAP)
	close_obj();

	open_obj("constants");
	CONST(SCST_USER_PARSE_STANDARD) CONST(SCST_USER_PARSE_CALL)
	CONST(SCST_USER_PARSE_EXCEPTION) CONST(SCST_USER_MAX_PARSE_OPT)
	CONST(SCST_USER_ON_FREE_CMD_CALL) CONST(SCST_USER_ON_FREE_CMD_IGNORE)
	CONST(SCST_USER_MAX_ON_FREE_CMD_OPT)
	CONST(SCST_USER_MEM_NO_REUSE) CONST(SCST_USER_MEM_REUSE_READ)
	CONST(SCST_USER_MEM_REUSE_WRITE) CONST(SCST_USER_MEM_REUSE_ALL)
	CONST(SCST_USER_MAX_MEM_REUSE_OPT)
	CONST(SCST_USER_PARTIAL_TRANSFERS_NOT_SUPPORTED)
	CONST(SCST_USER_PARTIAL_TRANSFERS_SUPPORTED_ORDERED)
	CONST(SCST_USER_PARTIAL_TRANSFERS_SUPPORTED)
	CONST(SCST_USER_MAX_PARTIAL_TRANSFERS_OPT)
	CONST(SCST_TST_0_SINGLE_TASK_SET) CONST(SCST_TST_1_SEP_TASK_SETS)
	CONST(SCST_QUEUE_ALG_0_RESTRICTED_REORDER) CONST(SCST_QUEUE_ALG_1_UNRESTRICTED_REORDER)
	CONST(SCST_QERR_0_ALL_RESUME) CONST(SCST_QERR_1_ABORT_ALL) CONST(SCST_QERR_2_RESERVED)
	CONST(SCST_QERR_3_ABORT_THIS_NEXUS_ONLY)
	CONST(SCST_D_SENSE_0_FIXED_SENSE) CONST(SCST_D_SENSE_1_DESCR_SENSE)
	CONST(SCST_MAX_CDB_SIZE) CONST(SCST_MAX_LONG_CDB_SIZE) CONST(SCST_MAX_NAME)
	CONST(SCST_MAX_EXTERNAL_NAME) CONST(SCST_STANDARD_SENSE_LEN) CONST(SCST_SENSE_BUFFERSIZE)
	CONST(SCST_DATA_UNKNOWN) CONST(SCST_DATA_WRITE) CONST(SCST_DATA_READ)
	CONST(SCST_DATA_BIDI) CONST(SCST_DATA_NONE)
	CONST(SCST_CMD_QUEUE_UNTAGGED) CONST(SCST_CMD_QUEUE_SIMPLE) CONST(SCST_CMD_QUEUE_ORDERED)
	CONST(SCST_CMD_QUEUE_HEAD_OF_QUEUE) CONST(SCST_CMD_QUEUE_ACA)
	CONST(SCST_SMALL_TIMEOUT) CONST(SCST_LONG_TIMEOUT) CONST(SCST_TRANSFER_LEN_TYPE_FIXED)
	CONST(SCST_UNKNOWN_LBA) CONST(SCST_UNKNOWN_LENGTH) CONST(SCST_INFO_VALID)
	CONST(SCST_LBA_NOT_VALID) CONST(SCST_IMPLICIT_HQ) CONST(SCST_SKIP_UA)
	CONST(SCST_WRITE_MEDIUM) CONST(SCST_LOCAL_CMD) CONST(SCST_FULLY_LOCAL_CMD)
	CONST(SCST_REG_RESERVE_ALLOWED) CONST(SCST_WRITE_EXCL_ALLOWED)
	CONST(SCST_EXCL_ACCESS_ALLOWED) CONST(SCST_SERIALIZED) CONST(SCST_STRICTLY_SERIALIZED)
	CONST(SCST_CAN_GEN_3PARTY_COMMANDS) CONST(SCST_DESCRIPTORS_BASED) CONST(SCST_SCSI_ATOMIC)
	CONST(SCST_ABORT_TASK) CONST(SCST_ABORT_TASK_SET) CONST(SCST_CLEAR_ACA)
	CONST(SCST_CLEAR_TASK_SET) CONST(SCST_LUN_RESET) CONST(SCST_TARGET_RESET)
	CONST(SCST_NEXUS_LOSS_SESS) CONST(SCST_ABORT_ALL_TASKS_SESS) CONST(SCST_NEXUS_LOSS)
	CONST(SCST_ABORT_ALL_TASKS) CONST(SCST_UNREG_SESS_TM) CONST(SCST_PR_ABORT_ALL)
	CONST(SCST_MGMT_STATUS_SUCCESS) CONST(SCST_MGMT_STATUS_TASK_NOT_EXIST)
	CONST(SCST_MGMT_STATUS_LUN_NOT_EXIST) CONST(SCST_MGMT_STATUS_FN_NOT_SUPPORTED)
	CONST(SCST_MGMT_STATUS_REJECTED) CONST(SCST_MGMT_STATUS_FAILED)
	CONST(SCST_CMD_DELIVERY_SUCCESS) CONST(SCST_CMD_DELIVERY_FAILED)
	CONST(SCST_CMD_DELIVERY_ABORTED)
	CONST(SCST_EXEC_REPLY_BACKGROUND) CONST(SCST_EXEC_REPLY_COMPLETED)
	CONST(SCST_EXEC_REPLY_DO_WRITE_SAME)
	CONST(UCMD_STATE_NEW) CONST(UCMD_STATE_PARSING) CONST(UCMD_STATE_BUF_ALLOCING)
	CONST(UCMD_STATE_EXECING) CONST(UCMD_STATE_ON_FREEING) CONST(UCMD_STATE_ON_CACHE_FREEING)
	CONST(UCMD_STATE_EXT_COPY_REMAPPING) CONST(UCMD_STATE_ON_FREE_SKIPPED)
	CONST(UCMD_STATE_TM_RECEIVED_EXECING) CONST(UCMD_STATE_TM_DONE_EXECING)
	CONST(UCMD_STATE_ATTACH_SESS) CONST(UCMD_STATE_DETACH_SESS)
	close_obj();

	open_obj("strings");
	str("DEV_USER_NAME", DEV_USER_NAME);
	str("DEV_USER_PATH", DEV_USER_PATH);
#ifdef SCST_ABI_CHECK_UPSTREAM
	/* Only the installed headers know the release; our header leaves it to run time. */
	str("DEV_USER_VERSION", DEV_USER_VERSION);
	str("SCST_VERSION_NAME", SCST_VERSION_NAME);
	str("DEV_USER_INTF_VER", DEV_USER_INTF_VER);
	str("SCST_CONST_INTF_VER", SCST_CONST_INTF_VER);
#else
	str("SCST_ABI_DEV_USER_INTF_VER", SCST_ABI_DEV_USER_INTF_VER);
	str("SCST_ABI_CONST_INTF_VER_3_8", SCST_ABI_CONST_INTF_VER_3_8);
	str("SCST_ABI_CONST_INTF_VER_3_9", SCST_ABI_CONST_INTF_VER_3_9);
	str("SCST_ABI_CONST_INTF_VER_3_10", SCST_ABI_CONST_INTF_VER_3_10);
	str("SCST_ABI_CONST_INTF_VER_3_11_PRE", SCST_ABI_CONST_INTF_VER_3_11_PRE);
	str("SCST_ABI_LICENSE", SCST_ABI_LICENSE);
#endif
	close_obj();

#ifndef SCST_ABI_CHECK_UPSTREAM
	open_obj("limits");
	CONST(SCST_ABI_SHA1_HEX_LEN)
	CONST(SCST_ABI_STR_COPY_MIN)
	CONST(SCST_ABI_STR_BUF_MIN)
	close_obj();
#endif
}

int main(void)
{
	putchar('{');
	depth = 1;
	need_comma[1] = 0;
	str("abi", ABI_NAME);
#if defined(__x86_64__)
	str("arch", "x86_64");
#elif defined(__aarch64__)
	str("arch", "aarch64");
#else
	str("arch", "other");
#endif
	str("compiler", __VERSION__);
	num("pointer_size", sizeof(void *));
	structs();
	numbers();
	depth = 0;
	printf("\n}\n");
	return 0;
}
