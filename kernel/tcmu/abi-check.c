/*
 * The TCMU ring ABI as gcc compiles the kernel's own uapi header (linux/target_core_user.h,
 * from Debian's linux-libc-dev): prints every offset, size and constant src/ringbuffer/abi.ts
 * pins, as JSON. test/unit/ringbuffer-abi-gcc.test.ts compares the two.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/target_core_user.h>

#define OFF(s, f) printf("    \"%s\": %zu,\n", #f, offsetof(struct s, f))

int main(void)
{
	struct tcmu_cmd_entry e;
	const char *base = (const char *)&e;

	printf("{\n  \"mailbox\": {\n");
	OFF(tcmu_mailbox, version);
	OFF(tcmu_mailbox, flags);
	OFF(tcmu_mailbox, cmdr_off);
	OFF(tcmu_mailbox, cmdr_size);
	OFF(tcmu_mailbox, cmd_head);
	OFF(tcmu_mailbox, cmd_tail);
	printf("    \"size\": %zu\n  },\n", sizeof(struct tcmu_mailbox));
	printf("  \"hdr\": {\n");
	OFF(tcmu_cmd_entry_hdr, len_op);
	OFF(tcmu_cmd_entry_hdr, cmd_id);
	OFF(tcmu_cmd_entry_hdr, kflags);
	OFF(tcmu_cmd_entry_hdr, uflags);
	printf("    \"size\": %zu\n  },\n", sizeof(struct tcmu_cmd_entry_hdr));
	printf("  \"req\": { \"iov_cnt\": %td, \"iov_bidi_cnt\": %td, \"iov_dif_cnt\": %td, \"cdb_off\": %td, \"pad1\": %td, \"pad2\": %td, \"iov\": %td },\n",
	       (const char *)&e.req.iov_cnt - base, (const char *)&e.req.iov_bidi_cnt - base,
	       (const char *)&e.req.iov_dif_cnt - base, (const char *)&e.req.cdb_off - base,
	       (const char *)&e.req.__pad1 - base, (const char *)&e.req.__pad2 - base,
	       (const char *)&e.req.iov[0] - base);
	printf("  \"rsp\": { \"scsi_status\": %td, \"pad1\": %td, \"pad2\": %td, \"read_len\": %td, \"sense\": %td },\n",
	       (const char *)&e.rsp.scsi_status - base, (const char *)&e.rsp.__pad1 - base,
	       (const char *)&e.rsp.__pad2 - base, (const char *)&e.rsp.read_len - base,
	       (const char *)&e.rsp.sense_buffer[0] - base);
	printf("  \"cmd_entry_size\": %zu,\n", sizeof(struct tcmu_cmd_entry));
	printf("  \"iovec\": { \"base\": %zu, \"len\": %zu, \"size\": %zu },\n",
	       offsetof(struct iovec, iov_base), offsetof(struct iovec, iov_len), sizeof(struct iovec));
	printf("  \"tmr\": {\n");
	OFF(tcmu_tmr_entry, tmr_type);
	OFF(tcmu_tmr_entry, cmd_cnt);
	OFF(tcmu_tmr_entry, cmd_ids);
	printf("    \"size\": %zu\n  },\n", sizeof(struct tcmu_tmr_entry));
	printf("  \"constants\": {\n");
	printf("    \"TCMU_MAILBOX_VERSION\": %d,\n", TCMU_MAILBOX_VERSION);
	printf("    \"TCMU_MAILBOX_FLAG_CAP_OOOC\": %d,\n", TCMU_MAILBOX_FLAG_CAP_OOOC);
	printf("    \"TCMU_MAILBOX_FLAG_CAP_READ_LEN\": %d,\n", TCMU_MAILBOX_FLAG_CAP_READ_LEN);
	printf("    \"TCMU_MAILBOX_FLAG_CAP_TMR\": %d,\n", TCMU_MAILBOX_FLAG_CAP_TMR);
	printf("    \"TCMU_MAILBOX_FLAG_CAP_KEEP_BUF\": %d,\n", TCMU_MAILBOX_FLAG_CAP_KEEP_BUF);
	printf("    \"TCMU_OP_PAD\": %d,\n", TCMU_OP_PAD);
	printf("    \"TCMU_OP_CMD\": %d,\n", TCMU_OP_CMD);
	printf("    \"TCMU_OP_TMR\": %d,\n", TCMU_OP_TMR);
	printf("    \"TCMU_OP_MASK\": %d,\n", TCMU_OP_MASK);
	printf("    \"TCMU_OP_ALIGN_SIZE\": %zu,\n", TCMU_OP_ALIGN_SIZE);
	printf("    \"TCMU_UFLAG_UNKNOWN_OP\": %d,\n", TCMU_UFLAG_UNKNOWN_OP);
	printf("    \"TCMU_UFLAG_READ_LEN\": %d,\n", TCMU_UFLAG_READ_LEN);
	printf("    \"TCMU_UFLAG_KEEP_BUF\": %d,\n", TCMU_UFLAG_KEEP_BUF);
	printf("    \"TCMU_SENSE_BUFFERSIZE\": %d,\n", TCMU_SENSE_BUFFERSIZE);
	printf("    \"TCMU_TMR_UNKNOWN\": %d,\n", TCMU_TMR_UNKNOWN);
	printf("    \"TCMU_TMR_ABORT_TASK\": %d,\n", TCMU_TMR_ABORT_TASK);
	printf("    \"TCMU_TMR_ABORT_TASK_SET\": %d,\n", TCMU_TMR_ABORT_TASK_SET);
	printf("    \"TCMU_TMR_CLEAR_ACA\": %d,\n", TCMU_TMR_CLEAR_ACA);
	printf("    \"TCMU_TMR_CLEAR_TASK_SET\": %d,\n", TCMU_TMR_CLEAR_TASK_SET);
	printf("    \"TCMU_TMR_LUN_RESET\": %d,\n", TCMU_TMR_LUN_RESET);
	printf("    \"TCMU_TMR_TARGET_WARM_RESET\": %d,\n", TCMU_TMR_TARGET_WARM_RESET);
	printf("    \"TCMU_TMR_TARGET_COLD_RESET\": %d,\n", TCMU_TMR_TARGET_COLD_RESET);
	printf("    \"TCMU_TMR_LUN_RESET_PRO\": %d\n", TCMU_TMR_LUN_RESET_PRO);
	printf("  },\n  \"version\": \"%s\"\n}\n", TCMU_VERSION);
	return 0;
}
