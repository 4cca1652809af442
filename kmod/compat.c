// SPDX-License-Identifier: GPL-2.0
/*
 * ktls - helpers for the kernels where an API ktls used is gone (see
 * compat.h for why each exists).  Empty when building for 6.1.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/splice.h>

#include "ktls.h"

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)

/*
 * splice(2) from the socket without ITER_PIPE: as many fresh pages as the
 * pipe has room for (the splice core capped @len at that room), filled
 * through a bvec iterator, then each page that received data added to the
 * pipe.  The pipe is locked throughout by the splice core, so the room
 * and the readers checked there do not change under us.
 */
ssize_t ktls_splice_to_pipe(struct sock *sk, struct pipe_inode_info *pipe,
			    size_t len, int flags, ktls_splice_fill_t fill)
{
	unsigned int room = pipe->max_usage -
			    pipe_occupancy(pipe->head, pipe->tail);
	struct msghdr msg = {};
	unsigned int npages, n, i;
	struct bio_vec *bvec;
	size_t done, size;
	ssize_t ret, added;

	npages = min_t(size_t, DIV_ROUND_UP(len, PAGE_SIZE), room);
	if (!npages)
		return 0;
	bvec = kcalloc(npages, sizeof(*bvec), GFP_KERNEL);
	if (!bvec)
		return -ENOMEM;
	for (n = 0; n < npages; n++) {
		struct page *page = alloc_page(GFP_USER);

		if (!page)
			break;
		bvec_set_page(&bvec[n], page, PAGE_SIZE, 0);
	}
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
	len = min_t(size_t, len, (size_t)n * PAGE_SIZE);
	iov_iter_bvec(&msg.msg_iter, ITER_DEST, bvec, n, len);
	ret = fill(sk, &msg, len, flags);

	/* The pages that received data go to the pipe, which then owns
	 * their reference; add_to_pipe() drops it on failure. */
	done = ret > 0 ? ret : 0;
	added = 0;
	for (i = 0; done && i < n; i++) {
		struct pipe_buffer buf = {
			.page = bvec[i].bv_page,
			.ops = &nosteal_pipe_buf_ops,
		};
		ssize_t err;

		size = min_t(size_t, done, PAGE_SIZE);
		buf.len = size;
		done -= size;
		bvec[i].bv_page = NULL;
		err = add_to_pipe(pipe, &buf);
		if (err < 0) {
			/* Cannot happen under the pipe lock after the
			 * core's checks; what was read is lost if it does. */
			if (!added)
				added = err;
			break;
		}
		added += err;
	}
	if (ret > 0)
		ret = added;
out:
	for (i = 0; i < n; i++)
		if (bvec[i].bv_page)
			put_page(bvec[i].bv_page);
	kfree(bvec);
	return ret;
}

#endif
