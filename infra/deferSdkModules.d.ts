/** Types of ./deferSdkModules.js, which loads as plain JavaScript before anything else (entries, render). */
/** Gives the @pulumi/pulumi installed in `sdkDir` the stand-ins that fit it; returns them as "<file> → <request>". */
export declare function install(sdkDir: string): string[];
/** The stand-ins given to the @pulumi/pulumi this project resolves (empty when none fits it). */
export declare const applied: string[];
