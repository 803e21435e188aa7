/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scst_user_abi.h - the part of SCST's /dev/scst_user interface that fileio_tgt uses.
 *
 * This is fileio_tgt's own description of the published scst_user ABI (the interface
 * shipped by SCST as scst/include/scst_user.h + scst/include/scst_const.h, unchanged
 * from SCST 3.8 to 3.11.0-pre). Struct, field, ioctl and constant names are the
 * interface's names so that code and kernel log messages can be compared directly;
 * the arrangement and commentary are ours. See README.md in this folder.
 *
 * Rules that apply everywhere below:
 *  - every integer is in the machine's byte order (little-endian on x86_64/aarch64);
 *  - every pointer crosses the boundary as a 64-bit integer (aligned_u64), so the
 *    layouts are identical for 64-bit user space on every 64-bit kernel;
 *  - compiler padding is part of the ABI: write zeros into it.
 *
 * Do not include this together with SCST's own scst_user.h / scst_const.h: the
 * names are the same on purpose.
 */
#ifndef FILEIO_TGT_SCST_USER_ABI_H
#define FILEIO_TGT_SCST_USER_ABI_H

#if defined(__SCST_USER_H) || defined(__SCST_CONST_H)
#error "scst_user_abi.h mirrors SCST's scst_user.h/scst_const.h; include one or the other"
#endif

#include <linux/types.h>
#include <linux/ioctl.h>

/* 64-bit fields are 8-byte aligned even where the C ABI would align them less (i386). */
#ifndef aligned_u64
#define aligned_u64 __u64 __attribute__((aligned(8)))
#endif
#ifndef aligned_i64
#define aligned_i64 __s64 __attribute__((aligned(8)))
#endif

/* ------------------------------------------------------------------------------------
 * Device node and registration strings
 * ---------------------------------------------------------------------------------- */

#define DEV_USER_NAME			"scst_user"
#define DEV_USER_PATH			"/dev/"

/*
 * REGISTER_DEVICE version check. The kernel compares version_str with
 *     DEV_USER_VERSION = SCST_VERSION_NAME DEV_USER_INTF_VER SCST_CONST_INTF_VER
 * i.e. "<release>" + sha1(scst_user.h) + sha1(scst_const.h) of the headers the module was
 * built from (generated into scst_itf_ver.h; installed by scst-dev / `make install`).
 * The string changes with every SCST release although the layouts here do not, so the
 * handler must take it from the installed headers (or from configuration) at run time;
 * it is deliberately NOT a compile-time constant of this header.
 *
 * The kernel copies a fixed max(sizeof(DEV_USER_VERSION), 20) bytes from BOTH version_str
 * and license_str (91 for 3.11.0-pre, 87 for 3.10.0) and NUL-terminates the copy, so each
 * user buffer must be readable for that many bytes: use zero-padded buffers of at least
 * SCST_ABI_STR_BUF_MIN bytes.
 */
#define SCST_ABI_SHA1_HEX_LEN		40
#define SCST_ABI_STR_COPY_MIN		20
#define SCST_ABI_STR_BUF_MIN		128

/* sha1(scst_user.h) for every release from 3.8 to 3.11.0-pre (file unchanged since 2022). */
#define SCST_ABI_DEV_USER_INTF_VER	"230a30730ec749a9738ef33d6d17b1e6739bd195"
/* sha1(scst_const.h) per release (the header changes with every release). */
#define SCST_ABI_CONST_INTF_VER_3_8	"7a108855086ad9ef49bdefa1a5819df2db0aba62"
#define SCST_ABI_CONST_INTF_VER_3_9	"58760c5ceec7d20ce59c725a4a7a1f005466a6d0"
#define SCST_ABI_CONST_INTF_VER_3_10	"85aa8654196eb07e34d2b0762f5607fb4b70af8b"
#define SCST_ABI_CONST_INTF_VER_3_11_PRE "f03678ef2265294f64bc9fca39567ca80671f7d8"

/* license_str must be one of these, else REGISTER_DEVICE fails with EPERM. */
#define SCST_ABI_LICENSE		"GPL"

/* ------------------------------------------------------------------------------------
 * Options (struct scst_user_opt)
 * ---------------------------------------------------------------------------------- */

/* parse_type */
#define SCST_USER_PARSE_STANDARD	0	/* kernel's generic parser; no PARSE subcommand */
#define SCST_USER_PARSE_CALL		1	/* PARSE for every command */
#define SCST_USER_PARSE_EXCEPTION	2	/* PARSE only where the generic parser fails */
#define SCST_USER_MAX_PARSE_OPT		SCST_USER_PARSE_EXCEPTION

/* on_free_cmd_type */
#define SCST_USER_ON_FREE_CMD_CALL	0
#define SCST_USER_ON_FREE_CMD_IGNORE	1
#define SCST_USER_MAX_ON_FREE_CMD_OPT	SCST_USER_ON_FREE_CMD_IGNORE

/* memory_reuse_type: which directions take buffers from the device's SGV cache */
#define SCST_USER_MEM_NO_REUSE		0
#define SCST_USER_MEM_REUSE_READ	1
#define SCST_USER_MEM_REUSE_WRITE	2
#define SCST_USER_MEM_REUSE_ALL		3
#define SCST_USER_MAX_MEM_REUSE_OPT	SCST_USER_MEM_REUSE_ALL

/* partial_transfers_type (accepted by the kernel, not implemented by it) */
#define SCST_USER_PARTIAL_TRANSFERS_NOT_SUPPORTED	0
#define SCST_USER_PARTIAL_TRANSFERS_SUPPORTED_ORDERED	1
#define SCST_USER_PARTIAL_TRANSFERS_SUPPORTED		2
#define SCST_USER_MAX_PARTIAL_TRANSFERS_OPT	SCST_USER_PARTIAL_TRANSFERS_SUPPORTED

/* Control mode page fields carried in scst_user_opt (values as in SPC; scst_const.h names) */
#define SCST_TST_0_SINGLE_TASK_SET		0
#define SCST_TST_1_SEP_TASK_SETS		1
#define SCST_QUEUE_ALG_0_RESTRICTED_REORDER	0
#define SCST_QUEUE_ALG_1_UNRESTRICTED_REORDER	1
#define SCST_QERR_0_ALL_RESUME			0
#define SCST_QERR_1_ABORT_ALL			1
#define SCST_QERR_2_RESERVED			2	/* rejected with EINVAL */
#define SCST_QERR_3_ABORT_THIS_NEXUS_ONLY	3
#define SCST_D_SENSE_0_FIXED_SENSE		0
#define SCST_D_SENSE_1_DESCR_SENSE		1

/* ------------------------------------------------------------------------------------
 * Constants shared with the SCST core (scst_const.h)
 * ---------------------------------------------------------------------------------- */

#define SCST_MAX_CDB_SIZE		16	/* CDB bytes carried inline; GET_EXTENDED_CDB for more */
#define SCST_MAX_LONG_CDB_SIZE		65536
#define SCST_MAX_NAME			50	/* dev_desc.name / sgv_name, including the NUL */
#define SCST_MAX_EXTERNAL_NAME		256	/* initiator/target names in scst_user_sess */
#define SCST_STANDARD_SENSE_LEN		18
#define SCST_SENSE_BUFFERSIZE		252	/* the kernel copies at most this much sense */

/* data_direction (enum scst_data_direction) */
#define SCST_DATA_UNKNOWN		0
#define SCST_DATA_WRITE			1
#define SCST_DATA_READ			2
#define SCST_DATA_BIDI			3
#define SCST_DATA_NONE			4

/* queue_type (enum scst_cmd_queue_type) */
#define SCST_CMD_QUEUE_UNTAGGED		0
#define SCST_CMD_QUEUE_SIMPLE		1
#define SCST_CMD_QUEUE_ORDERED		2
#define SCST_CMD_QUEUE_HEAD_OF_QUEUE	3
#define SCST_CMD_QUEUE_ACA		4

/* op_flags (enum scst_cdb_flags); a PARSE reply must set SCST_INFO_VALID */
#define SCST_SMALL_TIMEOUT		0x0001
#define SCST_LONG_TIMEOUT		0x0002
#define SCST_TRANSFER_LEN_TYPE_FIXED	0x0004
#define SCST_UNKNOWN_LBA		0x0008
#define SCST_UNKNOWN_LENGTH		0x0010
#define SCST_INFO_VALID			0x0020
#define SCST_LBA_NOT_VALID		0x0040
#define SCST_IMPLICIT_HQ		0x0080
#define SCST_SKIP_UA			0x0100
#define SCST_WRITE_MEDIUM		0x0200
#define SCST_LOCAL_CMD			0x0400
#define SCST_FULLY_LOCAL_CMD		0x0800
#define SCST_REG_RESERVE_ALLOWED	0x1000
#define SCST_WRITE_EXCL_ALLOWED		0x2000
#define SCST_EXCL_ACCESS_ALLOWED	0x4000
#define SCST_SERIALIZED			0x10000
#define SCST_STRICTLY_SERIALIZED	0x30000	/* includes SCST_SERIALIZED */
#define SCST_CAN_GEN_3PARTY_COMMANDS	0x40000
#define SCST_DESCRIPTORS_BASED		0x80000
#define SCST_SCSI_ATOMIC		0x100000

/* scst_user_tm.fn */
#define SCST_ABORT_TASK			0
#define SCST_ABORT_TASK_SET		1
#define SCST_CLEAR_ACA			2
#define SCST_CLEAR_TASK_SET		3
#define SCST_LUN_RESET			4
#define SCST_TARGET_RESET		5
#define SCST_NEXUS_LOSS_SESS		6
#define SCST_ABORT_ALL_TASKS_SESS	7
#define SCST_NEXUS_LOSS			8
#define SCST_ABORT_ALL_TASKS		9
#define SCST_UNREG_SESS_TM		10	/* internal */
#define SCST_PR_ABORT_ALL		11	/* internal */

/* reply.result for SCST_USER_TASK_MGMT_DONE */
#define SCST_MGMT_STATUS_SUCCESS		0
#define SCST_MGMT_STATUS_TASK_NOT_EXIST		-1
#define SCST_MGMT_STATUS_LUN_NOT_EXIST		-2
#define SCST_MGMT_STATUS_FN_NOT_SUPPORTED	-5
#define SCST_MGMT_STATUS_REJECTED		-255
#define SCST_MGMT_STATUS_FAILED			-129

/* scst_user_scsi_on_free_cmd.delivery_status (stored in a __u8: 0, 255, 254) */
#define SCST_CMD_DELIVERY_SUCCESS	0
#define SCST_CMD_DELIVERY_FAILED	-1
#define SCST_CMD_DELIVERY_ABORTED	-2

/* scst_user_scsi_cmd_reply_exec.reply_type */
#define SCST_EXEC_REPLY_BACKGROUND	0	/* WRITE-type, no data: GOOD now, COMPLETED later */
#define SCST_EXEC_REPLY_COMPLETED	1
#define SCST_EXEC_REPLY_DO_WRITE_SAME	2	/* let the core perform WRITE SAME */

/* ------------------------------------------------------------------------------------
 * Internal command states; _IOC_NR() of every subcode is one of these
 * ---------------------------------------------------------------------------------- */

#define UCMD_STATE_NEW			0
#define UCMD_STATE_PARSING		1
#define UCMD_STATE_BUF_ALLOCING		2
#define UCMD_STATE_EXECING		3
#define UCMD_STATE_ON_FREEING		4
#define UCMD_STATE_ON_CACHE_FREEING	5
#define UCMD_STATE_EXT_COPY_REMAPPING	6
#define UCMD_STATE_ON_FREE_SKIPPED	7	/* never sent to user space */
#define UCMD_STATE_TM_RECEIVED_EXECING	8
#define UCMD_STATE_TM_DONE_EXECING	9
#define UCMD_STATE_ATTACH_SESS		0x20
#define UCMD_STATE_DETACH_SESS		0x21

/* ------------------------------------------------------------------------------------
 * Registration and options
 * ---------------------------------------------------------------------------------- */

struct scst_user_opt {				/* size 20, align 4 */
	__u8 parse_type;			/* SCST_USER_PARSE_* */
	__u8 on_free_cmd_type;			/* SCST_USER_ON_FREE_CMD_* */
	__u8 memory_reuse_type;			/* SCST_USER_MEM_* */
	__u8 partial_transfers_type;		/* SCST_USER_PARTIAL_TRANSFERS_* */
	__s32 partial_len;

	/* control mode page */
	__u8 tst;
	__u8 tmf_only;
	__u8 queue_alg;
	__u8 qerr;
	__u8 tas;
	__u8 swp;
	__u8 d_sense;

	__u8 has_own_order_mgmt;		/* 0: the core enforces SAM ordering */
	__u8 ext_copy_remap_supported;		/* 1: EXT_COPY_REMAP subcommands wanted */
};

struct scst_user_dev_desc {			/* size 160, align 8; SCST_USER_REGISTER_DEVICE */
	aligned_u64 version_str;		/* user pointer, see the version notes above */
	aligned_u64 license_str;		/* user pointer */
	__u8 type;				/* SCSI peripheral device type */
	__u8 sgv_shared;
	__u8 sgv_disable_clustered_pool;
	__s32 sgv_single_alloc_pages;		/* 0: power-of-two allocation mode */
	__s32 sgv_purge_interval;		/* seconds; 0: default, <0: never */
	struct scst_user_opt opt;
	__u32 block_size;			/* DISK/ROM/MOD: power of two >= 512 */
	__u8 enable_pr_cmds_notifications;
	char name[SCST_MAX_NAME];		/* NUL-terminated, unique */
	char sgv_name[SCST_MAX_NAME];		/* "" = same as name */
};

/* ------------------------------------------------------------------------------------
 * Subcommand payloads (kernel -> user, inside scst_user_get_cmd)
 * ---------------------------------------------------------------------------------- */

struct scst_user_sess {				/* ATTACH_SESS / DETACH_SESS; size 536 */
	aligned_u64 sess_h;			/* opaque I_T_L nexus handle */
	aligned_u64 lun;
	__u16 threads_num;
	__u8 rd_only;
	__u16 scsi_transport_version;
	__u16 phys_transport_version;
	char initiator_name[SCST_MAX_EXTERNAL_NAME];
	char target_name[SCST_MAX_EXTERNAL_NAME];
};

struct scst_user_scsi_cmd_parse {		/* PARSE; size 80 */
	aligned_u64 sess_h;
	__u8 cdb[SCST_MAX_CDB_SIZE];
	__u16 cdb_len;				/* may exceed 16: see GET_EXTENDED_CDB */
	aligned_i64 lba;
	aligned_i64 data_len;
	__s32 bufflen;
	__s32 out_bufflen;
	__s32 timeout;				/* seconds */
	__u32 op_flags;
	__u8 queue_type;
	__u8 data_direction;
	__u8 expected_values_set;
	__u8 expected_data_direction;
	__s32 expected_transfer_len;
	__s32 expected_out_transfer_len;
	__u32 sn;
};

struct scst_user_scsi_cmd_alloc_mem {		/* ALLOC_MEM; size 40 */
	aligned_u64 sess_h;
	__u8 cdb[SCST_MAX_CDB_SIZE];
	__u16 cdb_len;
	__s32 alloc_len;
	__u8 queue_type;
	__u8 data_direction;
	__u32 sn;
};

struct scst_user_scsi_cmd_exec {		/* EXEC; size 104 */
	aligned_u64 sess_h;
	__u8 cdb[SCST_MAX_CDB_SIZE];
	__u16 cdb_len;
	aligned_i64 lba;
	aligned_i64 data_len;
	__s32 bufflen;
	__s32 alloc_len;			/* size to supply in the reply when pbuf == 0 */
	aligned_u64 pbuf;			/* 0: no buffer yet (or no data) */
	__u8 queue_type;
	__u8 data_direction;
	__u8 partial;				/* always 0 */
	__s32 timeout;				/* seconds */
	aligned_u64 p_out_buf;			/* BIDI: data-out part of the buffer */
	__s32 out_bufflen;
	__u32 sn;
	__u32 parent_cmd_h;			/* partial transfers: unused */
	__s32 parent_cmd_data_len;		/* unused */
	__u32 partial_offset;			/* unused */
};

struct scst_user_scsi_on_free_cmd {		/* ON_FREE_CMD; size 16 */
	aligned_u64 pbuf;
	__s32 resp_data_len;
	__u8 buffer_cached;			/* 1: buffer stays in the SGV cache, keep it */
	__u8 aborted;
	__u8 status;
	__u8 delivery_status;			/* SCST_CMD_DELIVERY_* as __u8 */
};

struct scst_user_on_cached_mem_free {		/* ON_CACHED_MEM_FREE; size 8 */
	aligned_u64 pbuf;
};

struct scst_user_tm {				/* TASK_MGMT_RECEIVED / _DONE; size 24 */
	aligned_u64 sess_h;
	__u32 fn;				/* SCST_ABORT_TASK ... */
	__u32 cmd_h_to_abort;
	__u32 cmd_sn;
	__u8 cmd_sn_set;
};

struct scst_user_ext_copy_data_descr {		/* size 24 */
	aligned_u64 src_lba;
	aligned_u64 dst_lba;
	__s32 data_len;				/* bytes */
};

struct scst_user_ext_copy_remap {		/* EXT_COPY_REMAP; size 48 */
	aligned_u64 sess_h;
	aligned_u64 src_sess_h;
	aligned_u64 dst_sess_h;
	struct scst_user_ext_copy_data_descr data_descr;
};

/*
 * SCST_USER_REPLY_AND_GET_CMD argument; also the element of scst_user_get_multi.cmds[].
 * In: preply (user pointer to a scst_user_reply_cmd, or 0). Out: cmd_h, subcode and the
 * payload selected by subcode. The kernel writes only offsetof(payload) + sizeof(payload)
 * bytes; whatever follows is left over from earlier use.
 */
struct scst_user_get_cmd {			/* size 544, align 8 */
	__u32 cmd_h;
	__u32 subcode;				/* SCST_USER_PARSE ... (full _IOC value) */
	union {
		aligned_u64 preply;
		struct scst_user_sess sess;
		struct scst_user_scsi_cmd_parse parse_cmd;
		struct scst_user_scsi_cmd_alloc_mem alloc_cmd;
		struct scst_user_scsi_cmd_exec exec_cmd;
		struct scst_user_scsi_on_free_cmd on_free_cmd;
		struct scst_user_on_cached_mem_free on_cached_mem_free;
		struct scst_user_tm tm_cmd;
		struct scst_user_ext_copy_remap remap_cmd;
	};
};

/* ------------------------------------------------------------------------------------
 * Replies (user -> kernel, scst_user_reply_cmd)
 * ---------------------------------------------------------------------------------- */

struct scst_user_scsi_cmd_reply_parse {		/* size 48 */
	__u8 status;				/* 0: use the fields below; else fail the cmd */
	union {
		struct {			/* status == 0 */
			__u8 queue_type;
			__u8 data_direction;
			__u16 cdb_len;
			aligned_i64 lba;
			aligned_i64 data_len;
			__s32 bufflen;
			__u32 op_flags;		/* must include SCST_INFO_VALID */
			__s32 out_bufflen;
		};
		struct {			/* status != 0 */
			__u8 sense_len;
			aligned_u64 psense_buffer;
		};
	};
};

struct scst_user_scsi_cmd_reply_alloc_mem {	/* size 8 */
	aligned_u64 pbuf;
};

/* WRITE SAME range for SCST_EXEC_REPLY_DO_WRITE_SAME; the list ends with usdd_blocks == 0. */
struct scst_user_data_descriptor {		/* size 16 */
	aligned_u64 usdd_lba;
	aligned_u64 usdd_blocks;
};

struct scst_user_scsi_cmd_reply_exec {		/* size 40 */
	__s32 resp_data_len;			/* READ data length; 0 for other directions */
	aligned_u64 pbuf;			/* only when EXEC came with pbuf == 0 */
	__u8 reply_type;			/* SCST_EXEC_REPLY_* */
	__u8 status;				/* SAM status */
	union {
		struct {
			__u8 sense_len;		/* <= SCST_SENSE_BUFFERSIZE is copied */
			aligned_u64 psense_buffer;
		};
		struct {			/* DO_WRITE_SAME */
			__u16 ws_descriptors_len;	/* bytes, <= PAGE_SIZE, multiple of 16 */
			aligned_u64 ws_descriptors;	/* scst_user_data_descriptor[] */
		};
	};
};

struct scst_user_ext_copy_reply_remap {		/* size 24 */
	aligned_u64 remap_descriptors;		/* leftover scst_user_ext_copy_data_descr[] */
	__u16 remap_descriptors_len;		/* bytes, <= PAGE_SIZE */
	__u8 status;
	__u8 sense_len;
	aligned_u64 psense_buffer;
};

/*
 * SCST_USER_REPLY_CMD argument, and what preply / preplies point to. subcode must echo the
 * subcode received for cmd_h exactly.
 */
struct scst_user_reply_cmd {			/* size 56, align 8 */
	__u32 cmd_h;
	__u32 subcode;
	union {
		__s32 result;			/* ATTACH/DETACH_SESS, TASK_MGMT_* */
		struct scst_user_scsi_cmd_reply_parse parse_reply;
		struct scst_user_scsi_cmd_reply_alloc_mem alloc_reply;
		struct scst_user_scsi_cmd_reply_exec exec_reply;
		struct scst_user_ext_copy_reply_remap remap_reply;
	};
};

/* ------------------------------------------------------------------------------------
 * Other ioctl arguments
 * ---------------------------------------------------------------------------------- */

struct scst_user_get_ext_cdb {			/* size 16; SCST_USER_GET_EXTENDED_CDB */
	__u32 cmd_h;
	aligned_u64 ext_cdb_buffer;		/* receives cdb_len - 16 bytes */
};

struct scst_user_prealloc_buffer_in {		/* size 16 */
	aligned_u64 pbuf;			/* page-aligned */
	__u32 bufflen;
	__u8 for_clust_pool;
};

struct scst_user_prealloc_buffer_out {		/* size 4 */
	__u32 cmd_h;
};

union scst_user_prealloc_buffer {		/* size 16; SCST_USER_PREALLOC_BUFFER */
	struct scst_user_prealloc_buffer_in in;
	struct scst_user_prealloc_buffer_out out;
};

/*
 * SCST_USER_REPLY_AND_GET_MULTI argument: this 16-byte header, then room for cmds_cnt
 * scst_user_get_cmd entries. preplies points to a separate array of replies_cnt
 * scst_user_reply_cmd. On return replies_done is valid even when the ioctl failed.
 */
struct scst_user_get_multi {			/* size 16 (header) */
	aligned_u64 preplies;			/* in */
	__s16 replies_cnt;			/* in */
	__s16 replies_done;			/* out */
	__s16 cmds_cnt;				/* in: capacity; out: filled */
	__s16 pad;
	struct scst_user_get_cmd cmds[];	/* out */
};

/* ------------------------------------------------------------------------------------
 * ioctls on /dev/scst_user (type 'u')
 * ---------------------------------------------------------------------------------- */

#define SCST_USER_REGISTER_DEVICE	_IOW('u', 1, struct scst_user_dev_desc)
#define SCST_USER_UNREGISTER_DEVICE	_IO('u', 2)	/* obsolete: only wakes waiters */
#define SCST_USER_SET_OPTIONS		_IOW('u', 3, struct scst_user_opt)
#define SCST_USER_GET_OPTIONS		_IOR('u', 4, struct scst_user_opt)
#define SCST_USER_REPLY_AND_GET_CMD	_IOWR('u', 5, struct scst_user_get_cmd)
#define SCST_USER_REPLY_CMD		_IOW('u', 6, struct scst_user_reply_cmd)
#define SCST_USER_FLUSH_CACHE		_IO('u', 7)
#define SCST_USER_DEVICE_CAPACITY_CHANGED _IO('u', 8)	/* TYPE_DISK only */
#define SCST_USER_GET_EXTENDED_CDB	_IOWR('u', 9, struct scst_user_get_ext_cdb)
#define SCST_USER_PREALLOC_BUFFER	_IOWR('u', 10, union scst_user_prealloc_buffer)
#define SCST_USER_REPLY_AND_GET_MULTI	_IOWR('u', 11, struct scst_user_get_multi)

/* ------------------------------------------------------------------------------------
 * Subcodes (scst_user_get_cmd.subcode, type 's', nr = UCMD_STATE_*)
 * ---------------------------------------------------------------------------------- */

#define SCST_USER_ATTACH_SESS		_IOR('s', UCMD_STATE_ATTACH_SESS, struct scst_user_sess)
#define SCST_USER_DETACH_SESS		_IOR('s', UCMD_STATE_DETACH_SESS, struct scst_user_sess)
#define SCST_USER_PARSE			\
	_IOWR('s', UCMD_STATE_PARSING, struct scst_user_scsi_cmd_parse)
#define SCST_USER_ALLOC_MEM		\
	_IOWR('s', UCMD_STATE_BUF_ALLOCING, struct scst_user_scsi_cmd_alloc_mem)
#define SCST_USER_EXEC			\
	_IOWR('s', UCMD_STATE_EXECING, struct scst_user_scsi_cmd_exec)
#define SCST_USER_ON_FREE_CMD		\
	_IOR('s', UCMD_STATE_ON_FREEING, struct scst_user_scsi_on_free_cmd)
#define SCST_USER_ON_CACHED_MEM_FREE	\
	_IOR('s', UCMD_STATE_ON_CACHE_FREEING, struct scst_user_on_cached_mem_free)
#define SCST_USER_TASK_MGMT_RECEIVED	\
	_IOWR('s', UCMD_STATE_TM_RECEIVED_EXECING, struct scst_user_tm)
#define SCST_USER_TASK_MGMT_DONE	\
	_IOWR('s', UCMD_STATE_TM_DONE_EXECING, struct scst_user_tm)
#define SCST_USER_EXT_COPY_REMAP	\
	_IOWR('s', UCMD_STATE_EXT_COPY_REMAPPING, struct scst_user_ext_copy_remap)

/* ------------------------------------------------------------------------------------
 * The layout, checked at compile time (same on x86_64, aarch64 and every LP64 Linux ABI)
 * ---------------------------------------------------------------------------------- */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct scst_user_opt) == 20, "scst_user_opt");
_Static_assert(sizeof(struct scst_user_dev_desc) == 160, "scst_user_dev_desc");
_Static_assert(sizeof(struct scst_user_sess) == 536, "scst_user_sess");
_Static_assert(sizeof(struct scst_user_scsi_cmd_parse) == 80, "scst_user_scsi_cmd_parse");
_Static_assert(sizeof(struct scst_user_scsi_cmd_alloc_mem) == 40, "scst_user_scsi_cmd_alloc_mem");
_Static_assert(sizeof(struct scst_user_scsi_cmd_exec) == 104, "scst_user_scsi_cmd_exec");
_Static_assert(sizeof(struct scst_user_scsi_on_free_cmd) == 16, "scst_user_scsi_on_free_cmd");
_Static_assert(sizeof(struct scst_user_tm) == 24, "scst_user_tm");
_Static_assert(sizeof(struct scst_user_ext_copy_remap) == 48, "scst_user_ext_copy_remap");
_Static_assert(sizeof(struct scst_user_get_cmd) == 544, "scst_user_get_cmd");
_Static_assert(sizeof(struct scst_user_reply_cmd) == 56, "scst_user_reply_cmd");
_Static_assert(sizeof(struct scst_user_get_multi) == 16, "scst_user_get_multi");
#endif

#endif /* FILEIO_TGT_SCST_USER_ABI_H */
