/** The policy pack the Pulumi CLI runs (`pulumi preview --policy-pack policy`). */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("firmground", { policies: POLICIES });
