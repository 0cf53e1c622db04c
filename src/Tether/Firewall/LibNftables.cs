using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tether.Firewall;

/// <summary>Owns a <c>struct nft_ctx *</c>; release calls <c>nft_ctx_free</c>.</summary>
internal sealed class NftContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public NftContextHandle() : base(ownsHandle: true) { }
    protected override bool ReleaseHandle()
    {
        LibNftables.nft_ctx_free(handle);
        return true;
    }
}

/// <summary>libnftables entry points and constants (nftables/libnftables.h, nftables 1.0.6).</summary>
internal static partial class LibNftables
{
    const string Lib = "libnftables.so.1";
    /// <summary>NFT_CTX_DEFAULT: a context with a netlink socket (libnftables.h).</summary>
    public const uint NFT_CTX_DEFAULT = 0;
    /// <summary>NFT_CTX_OUTPUT_JSON = 1 &lt;&lt; 4 (enum nft_output_flags, libnftables.h).</summary>
    public const uint NFT_CTX_OUTPUT_JSON = 1u << 4;

    [LibraryImport(Lib)]
    public static partial NftContextHandle nft_ctx_new(uint flags);

    [LibraryImport(Lib)]
    public static partial void nft_ctx_free(nint ctx);

    [LibraryImport(Lib)]
    public static partial int nft_ctx_buffer_output(NftContextHandle ctx);

    [LibraryImport(Lib)]
    public static partial int nft_ctx_buffer_error(NftContextHandle ctx);

    /// <summary>Returns the buffered output (owned by the context, valid until the next call) and rewinds it.</summary>
    [LibraryImport(Lib)]
    public static partial nint nft_ctx_get_output_buffer(NftContextHandle ctx);

    [LibraryImport(Lib)]
    public static partial nint nft_ctx_get_error_buffer(NftContextHandle ctx);

    [LibraryImport(Lib)]
    public static partial uint nft_ctx_output_get_flags(NftContextHandle ctx);

    [LibraryImport(Lib)]
    public static partial void nft_ctx_output_set_flags(NftContextHandle ctx, uint flags);

    /// <summary>Parses and runs a NUL-terminated script; 0 on success, -1 on error (details in the error buffer).</summary>
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nft_run_cmd_from_buffer(NftContextHandle ctx, string buf);
}
