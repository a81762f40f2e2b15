/** The program `pulumi up` runs (through infra/entry.js, Pulumi.yaml `main`); the stack outputs are its result. */
import { mogiProgram } from "./program";

export = mogiProgram;
