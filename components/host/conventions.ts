/**
 * Names shared by the host component and the policy pack, which checks what the host builds. Kept free
 * of provider imports so the policy pack can load it.
 */

/** Every IPv4 and IPv6 source. */
export const WORLD = ["0.0.0.0/0", "::/0"];

/** Tag on a data volume that `pulumi destroy` keeps (the policy engine cannot see retainOnDelete). */
export const RETAINED_TAG = "retained-on-destroy";
/** Tag on a data volume that `pulumi destroy` deletes. */
export const DELETED_TAG = "deleted-on-destroy";
