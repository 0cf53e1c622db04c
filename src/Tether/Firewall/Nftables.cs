using System.Runtime.InteropServices;

namespace Tether.Firewall;

/// <summary>
/// One libnftables context (<c>struct nft_ctx</c> from libnftables.so.1, nftables' public library API,
/// libnftables(3)). The context opens its netfilter netlink socket in <c>nft_ctx_new</c>, so it is bound to the network
/// namespace of the thread that constructs this object: create it on a thread that has entered the target namespace.
/// Calls are serialised with a lock; each <see cref="Run"/> is one atomic nftables transaction.
/// Needs CAP_NET_ADMIN in that namespace for anything but parsing. Caveat of libnftables 1.0.6: if the netlink
/// socket cannot be opened at all, the library prints an error and exits the process (mnl.c: netlink_init_error).
/// </summary>
public sealed class Nftables : IDisposable
{
    readonly NftContextHandle ctx;
    readonly Lock gate = new();

    /// <summary>Creates a context with output and error buffering (nothing is printed to stdout/stderr).</summary>
    /// <exception cref="FirewallException">libnftables could not create a context.</exception>
    /// <exception cref="DllNotFoundException">libnftables.so.1 is not installed (Debian: package libnftables1).</exception>
    public Nftables()
    {
        ctx = LibNftables.nft_ctx_new(LibNftables.NFT_CTX_DEFAULT);
        if (ctx.IsInvalid) throw new FirewallException("nft_ctx_new failed");
        if (LibNftables.nft_ctx_buffer_output(ctx) != 0 || LibNftables.nft_ctx_buffer_error(ctx) != 0)
        {
            ctx.Dispose();
            throw new FirewallException("nft_ctx_buffer_output/nft_ctx_buffer_error failed");
        }
    }

    /// <summary>
    /// Runs an nft script (the syntax of <c>nft -f</c>) as one atomic batch: either every command takes effect or none.
    /// </summary>
    /// <returns>Whatever the commands printed (usually empty).</returns>
    /// <exception cref="FirewallException">nft rejected the script (parse, evaluation or kernel error); the ruleset is unchanged.</exception>
    public string Run(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        lock (gate) return RunLocked(script, json: false);
    }

    /// <summary>
    /// Runs a listing command with JSON output, like <c>nft -j list ruleset</c> (schema: libnftables-json(5)).
    /// </summary>
    /// <exception cref="FirewallException">nft rejected the command, e.g. listing a table that does not exist.</exception>
    public string ListJson(string command = "list ruleset")
    {
        ArgumentNullException.ThrowIfNull(command);
        lock (gate) return RunLocked(command, json: true);
    }

    string RunLocked(string script, bool json)
    {
        ObjectDisposedException.ThrowIf(ctx.IsClosed, this);
        var flags = LibNftables.nft_ctx_output_get_flags(ctx);
        LibNftables.nft_ctx_output_set_flags(ctx, json ? flags | LibNftables.NFT_CTX_OUTPUT_JSON : flags & ~LibNftables.NFT_CTX_OUTPUT_JSON);
        // Reading a buffer rewinds it: drain anything left from an earlier call.
        LibNftables.nft_ctx_get_output_buffer(ctx);
        LibNftables.nft_ctx_get_error_buffer(ctx);
        var rc = LibNftables.nft_run_cmd_from_buffer(ctx, script);
        var output = Marshal.PtrToStringUTF8(LibNftables.nft_ctx_get_output_buffer(ctx)) ?? "";
        var error = Marshal.PtrToStringUTF8(LibNftables.nft_ctx_get_error_buffer(ctx)) ?? "";
        if (rc != 0) throw Error(error);
        return output;
    }

    /// <summary>Builds the exception: summary = first "Error:" message without its location prefix.</summary>
    internal static FirewallException Error(string details)
    {
        details = details.TrimEnd();
        var first = details.Split('\n').FirstOrDefault(l => l.Contains("Error:", StringComparison.Ordinal))
                    ?? details.Split('\n').FirstOrDefault(l => l.Length > 0) ?? "nft failed without an error message";
        var at = first.IndexOf("Error:", StringComparison.Ordinal);
        var summary = "nft: " + (at >= 0 ? first[(at + "Error:".Length)..].Trim() : first.Trim());
        return new FirewallException(summary, details);
    }

    public void Dispose()
    {
        lock (gate) ctx.Dispose();
    }
}
