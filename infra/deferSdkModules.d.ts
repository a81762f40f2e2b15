/** Types of ./deferSdkModules.js, which loads as plain JavaScript before anything else (entries, render). */
/** The @pulumi/pulumi version the stand-ins were written for. */
export declare const SDK_VERSION: string;
/** Whether the stand-ins were installed (the installed SDK is SDK_VERSION). */
export declare const installed: boolean;
